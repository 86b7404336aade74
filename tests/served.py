"""Start and stop `transformers serve` on 127.0.0.1 for a local model folder, offline (tests and the benchmark)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_unavailable_reason() -> str | None:
    """Why `transformers serve` cannot serve the tiny checkpoint here; None when it can.

    Its OpenAI-compatible server, pinned to one model given as an argument, is the transformers 5 one; 4.x
    releases before 4.54 only had the old pipeline server. The extras are fastapi, uvicorn, openai and pydantic.
    """
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__) < Version("5.0.0"):
        return (f"transformers {transformers.__version__} has no OpenAI-compatible `transformers serve` pinned to a "
                "model folder (transformers 5 has)")
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        return "transformers serve needs its extras: pip install -r requirements-dev.txt"
    return None


def serve_available() -> bool:
    """Whether `transformers serve` can run the tiny checkpoint here."""
    return serve_unavailable_reason() is None


class TransformersServe:
    """`transformers serve FOLDER` pinned to one local model folder (the folder path is the served name)."""

    def __init__(self, folder: str | Path, *, dtype: str = "bfloat16", log: str | Path | None = None):
        self.folder = str(folder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_UPDATE_CHECK="1",
                           HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false",
                           OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        self.log_path = Path(log) if log else None
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        # The CLI's own entry point, run by this interpreter (so the same virtual environment).
        command = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve",
                   self.folder, "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu",
                   "--dtype", dtype, "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for /health to answer 200; returns the seconds it took. Raises with the log if the server died."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM (uvicorn shuts down cleanly), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._log is not subprocess.DEVNULL:
            self._log.close()
