"""Every bad input gets a clear, typed error; secrets never leak; offline works from the cache; OOM is advice."""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PROJECT_ROOT, closed_port
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import demo_data, notebooks

TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")
HANG_GUARD_SECONDS = 5  # not a speed target: a bad input must fail at once, not wait on a network timeout


def _fake_token() -> str:
    return "hf_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(34))


class _Site(http.server.BaseHTTPRequestHandler):
    """Serves an HTML page for every path, as a mistyped image URL or a login wall would."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith("missing.png"):
            self.send_error(404)
            return
        body = b"<html><body>Sign in to view this image</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _bad_inputs(tmp: Path, site: str) -> list[tuple[str, object, type, str]]:
    """(what, call, expected error type, a word the message must hold)."""
    (tmp / "empty-folder").mkdir(exist_ok=True)
    (tmp / "mixed").mkdir(exist_ok=True)
    mixed_a = demo_data.write_demo_ct_series(tmp / "mixed-a", slices=2, size=16)
    mixed_b = demo_data.write_demo_ct_series(tmp / "mixed-b", slices=2, size=16)
    for source in (mixed_a, mixed_b):
        for path in source.iterdir():
            shutil.copy(path, tmp / "mixed" / f"{source.name}-{path.name}")
    truncated_dicom = _write(tmp / "cut.dcm", (mixed_a / "slice_001.dcm").read_bytes()[:400])
    html_png = _write(tmp / "page.png", "<html>hi</html>")
    text_dicom = _write(tmp / "notes.dcm", "just text\n" * 50)
    return [
        ("image: missing file", lambda: mh.load_image(tmp / "nope.png"), mh.ImageError, "does not exist"),
        ("image: a folder", lambda: mh.load_image(tmp), mh.ImageError, "folder"),
        ("image: HTML saved as .png", lambda: mh.load_image(html_png),
         mh.ImageError, "not a recognised"),
        ("image: wrong type", lambda: mh.load_image({"x": 1}), mh.ImageError, "cannot load"),
        ("image URL: refused", lambda: mh.load_image(f"http://127.0.0.1:{closed_port()}/x.png"), mh.ImageError,
         "failed"),
        ("image URL: 404", lambda: mh.load_image(f"{site}/missing.png"), mh.ImageError, "404"),
        ("image URL: an HTML page", lambda: mh.load_image(f"{site}/xray.png"), mh.ImageError, "not a recognised"),
        ("DICOM: text named .dcm", lambda: mh.load_image(text_dicom),
         mh.ImageError, "DICOM"),
        ("DICOM: truncated", lambda: mh.load_image(truncated_dicom), mh.ImageError, "cut.dcm"),
        ("CT folder: missing", lambda: mh.load_ct_series(tmp / "no-such-series"), mh.ImageError, "no-such-series"),
        ("CT folder: empty", lambda: mh.load_ct_series(tmp / "empty-folder"), mh.ImageError, "empty-folder"),
        ("CT folder: a file", lambda: mh.load_ct_series(truncated_dicom), mh.ImageError, "cut.dcm"),
        ("CT folder: two series", lambda: mh.load_ct_series(tmp / "mixed"), mh.ImageError, "series"),
        ("case id: unknown", lambda: mh.load_case("42"), mh.CaseError, "known cases"),
        ("case id: traversal", lambda: mh.load_case("../../etc/passwd"), mh.CaseError, "known cases"),
        ("case id: wrong type", lambda: mh.load_case(3.5), mh.CaseError, "must be text"),
        ("case folder: missing", lambda: mh.list_cases(tmp / "no-cases"), mh.CaseError, "no-cases"),
        ("model id: missing folder", lambda: mh.load_model(str(tmp / "no-model"), device="cpu"), mh.MedGemmaError,
         "no-model"),
        ("model id: folder without a model", lambda: mh.load_model(str(tmp / "empty-folder"), device="cpu"),
         mh.MedGemmaError, "config.json"),
        ("model: float16", lambda: mh.load_model(str(tmp), device="cpu", dtype="float16"), mh.MedGemmaError,
         "bfloat16"),
        ("model: 4-bit on the CPU", lambda: mh.load_model(str(tmp), device="cpu", quantize="4bit"),
         mh.MedGemmaError, "CUDA"),
        ("model: unknown device", lambda: mh.load_model(str(tmp), device="tpu"), mh.MedGemmaError, "device"),
        ("token: empty", lambda: mh.authenticate("  "), mh.AccessError, "empty"),
        ("token: wrong type", lambda: mh.authenticate(12345), mh.AccessError, "not text"),
        ("prompt: empty", lambda: mh.analyze(None, "", model=object()), mh.MedGemmaError, "prompt"),
        ("prompt: absurd size", lambda: mh.analyze(None, "x" * 200_000, model=object()), mh.MedGemmaError, "limit"),
        ("max_new_tokens: zero", lambda: mh.analyze(None, "q", model=object(), max_new_tokens=0), mh.MedGemmaError,
         "max_new_tokens"),
        ("max_new_tokens: text", lambda: mh.analyze(None, "q", model=object(), max_new_tokens="many"),
         mh.MedGemmaError, "max_new_tokens"),
        ("handout: not .html", lambda: mh.export_handout("01", None, tmp / "h.pdf"), mh.InputError, ".html"),
        ("server address: bad port", lambda: mh.connect("http://teacher:s3cret@server:port"), mh.InputError,
         "valid port"),
        ("server address: not http", lambda: mh.connect("ftp://server"), mh.InputError, "http"),
        ("server address: refused", lambda: mh.connect(f"http://127.0.0.1:{closed_port()}"), mh.AccessError,
         "127.0.0.1"),
    ]


def test_every_bad_input_is_a_clear_typed_error(tmp_path, site, with_cases):
    for what, call, error_type, word in _bad_inputs(tmp_path, site):
        before = set(tmp_path.rglob("*"))
        started = time.perf_counter()
        with pytest.raises(error_type) as caught:
            call()
        elapsed = time.perf_counter() - started
        assert isinstance(caught.value, mh.MedGemmaError), what
        assert "s3cret" not in str(caught.value), what
        assert word.lower() in str(caught.value).lower(), f"{what}: {caught.value}"
        assert elapsed < HANG_GUARD_SECONDS, f"{what} took {elapsed:.1f} s"
        assert set(tmp_path.rglob("*")) == before, f"{what} left files behind"


def test_script_in_case_text_is_escaped(with_cases, monkeypatch):
    case = mh.load_case("01")
    import dataclasses

    from medgemma_helpers.case_view import CaseView, answer_key_html

    hostile = dataclasses.replace(case, history="<script>alert(1)</script> cough", title="<img src=x onerror=1>")
    markup = CaseView(hostile, None)._repr_html_() + answer_key_html(hostile)
    assert "<script>" not in markup and "<img src=x" not in markup and "&lt;script&gt;" in markup


def test_valid_but_unusual_inputs_still_load(tmp_path):
    rgba = Image.new("RGBA", (30, 20), (255, 0, 0, 0))
    strip = Image.new("L", (1, 4000), 128)
    for name, image in (("rgba.png", rgba), ("strip.png", strip)):
        image.save(tmp_path / name)
        loaded = mh.load_image(tmp_path / name, pad_to_square=True)
        assert loaded.mode == "RGB" and loaded.width == loaded.height == max(image.size)
    assert mh.load_image(np.full((8, 8), 4095, dtype=np.uint16)).mode == "RGB"


# ---------------------------------------------------------------- secrets


def test_token_never_leaks_from_helper_output_or_an_executed_notebook(tiny_model_dir, case_environment, tmp_path,
                                                                    capfd):
    token = _fake_token()
    environment = os.environ | case_environment | {"HF_TOKEN": token, "PYTHONPATH": str(PROJECT_ROOT)}
    script = (
        "import medgemma_helpers as mh, logging\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "print(mh.authenticate())\n"
        "from medgemma_helpers import auth\n"
        "print(repr(auth._current), str(auth._current), repr(auth.find_token()))\n"
        "model = mh.load_model()\n"
        "print(repr(model))\n"
        "try:\n    mh.load_model('google/not-a-model-here')\nexcept mh.MedGemmaError as e:\n    print(repr(e))\n"
        "f = mh.analyze(None, 'hello', model=model, max_new_tokens=4)\n"
        "print(repr(f))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "True" in result.stdout and "environment variable HF_TOKEN" in result.stdout
    assert token not in result.stdout + result.stderr

    os.environ["HF_TOKEN"] = token
    try:
        for name, value in case_environment.items():
            os.environ[name] = value
        first = notebooks.case_notebooks()[1]  # case 01
        (outcome,) = notebooks.execute_notebooks(tmp_path, [first], timeout=300)
    finally:
        os.environ.pop("HF_TOKEN", None)
        for name in case_environment:
            os.environ.pop(name, None)
    assert outcome["error"] is None
    saved = outcome["executed"].read_text() + outcome["executed"].with_suffix(".html").read_text()
    assert "Hugging Face token found" in saved and token not in saved
    captured = capfd.readouterr()
    assert token not in captured.out + captured.err


def test_committed_notebooks_hold_no_outputs_and_no_token_shaped_strings():
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (an exported copy): scan the working files instead
        tracked = [str(path.relative_to(PROJECT_ROOT)) for path in PROJECT_ROOT.rglob("*")
                   if path.is_file() and ".venv" not in path.parts and ".git" not in path.parts]
    for name in tracked:
        path = PROJECT_ROOT / name
        if not path.is_file() or path.suffix in (".png", ".jpg", ".dcm"):
            continue
        text = path.read_text(errors="ignore")
        assert not TOKEN_PATTERN.search(text), f"{name} holds a token-shaped string"
        if path.suffix == ".ipynb":
            notebook = json.loads(text)
            for cell in notebook["cells"]:
                if cell["cell_type"] == "code":
                    assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name} holds outputs"


# ---------------------------------------------------------------- offline, from the cache


def test_with_the_model_cached_everything_works_offline(hub_cache, tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MEDGEMMA"))}
    environment.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub_cache), HF_HOME=str(tmp_path),
                       PYTHONPATH=str(PROJECT_ROOT))
    script = ("import medgemma_helpers as mh\nm = mh.load_model()\n"
              "print('ANSWER', repr(mh.analyze(None, 'hello', model=m, max_new_tokens=5, stream=False).text))")
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "ANSWER '" in result.stdout, result.stdout + result.stderr
    assert "google/medgemma-1.5-4b-it" in result.stdout


# ---------------------------------------------------------------- out of memory


def test_gpu_out_of_memory_becomes_advice(tiny_model, two_xrays, monkeypatch):
    def exhausted(**_):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(tiny_model.model, "generate", exhausted)
    for stream in (False, True):
        with pytest.raises(mh.MedGemmaError) as caught:
            mh.analyze(two_xrays[0], "Describe.", model=tiny_model, max_new_tokens=4, stream=stream)
        message = str(caught.value)
        assert "out of memory" in message and "max_new_tokens" in message and "4bit" in message
        assert "max_slices" in message
