"""Run the notebooks' setup cell as Colab runs it, with real pip installs, in a fresh virtual environment.

Outside CI (it downloads from PyPI and takes a few minutes); tests/test_setup_cell.py is the fast version with a
stand-in pip. What it builds:

- a git repository holding this project as it is now (committed and uncommitted files), cloned by the cell in
  place of the GitHub URL;
- a fresh virtual environment that sees this environment's packages as a runtime's preinstalled ones (torch,
  Jupyter, ipywidgets...) through a .pth file, plus what Colab's image adds on top: an old transformers
  (4.50.3) and sentence-transformers, which wants transformers<5;
- a stand-in google.colab module, imported before the cell as Colab does.

Then it runs the cell three times in one Python process (a first run, a re-run, a re-run after %cd notebooks)
and prints what the user would see, the versions installed and whether pip reported conflicts.

    python bench/simulate_hosted_setup.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from medgemma_helpers import notebooks  # noqa: E402

COLAB_EXTRAS = ["transformers==4.50.3", "sentence-transformers==3.4.1"]
DRIVER = """
import os, sys, time
import google.colab  # as on Colab, before the first cell
code = open(os.environ["CELL"]).read()
namespace = {}
for run, folder in enumerate([None, None, "notebooks"], 1):
    if folder:
        os.chdir(os.path.join("medgemma-case-notebooks", folder))
    started = time.perf_counter()
    print(f"--- run {run} in {os.getcwd()}", flush=True)
    try:
        exec(code, namespace)
        print(f"--- run {run}: mh is {namespace['mh'].__name__} ({time.perf_counter() - started:.1f} s)", flush=True)
    except Exception as error:
        print(f"--- run {run} FAILED: {type(error).__name__}: {error}", flush=True)
import importlib.metadata as m
print("versions:", {name: m.version(name) for name in ("transformers", "sentence-transformers", "torch")})
"""


def _origin(folder: Path) -> Path:
    """A git repository of the working tree, as the cell would clone it from GitHub."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT, capture_output=True,
                            text=True, check=True).stdout.split()
    for name in listed:
        if (PROJECT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / name, folder / name)
    git = ["git", "-c", "user.name=sim", "-c", "user.email=sim@example.invalid", "-c", "init.defaultBranch=main"]
    for command in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "working tree"]):
        subprocess.run(git + command, cwd=folder, check=True, capture_output=True)
    return folder


def main() -> int:
    """Build the simulated Colab runtime, run the setup cell in it, and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder for inspection")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hosted-setup-sim-"))
    started = time.perf_counter()
    try:
        origin = _origin(work / "origin")
        runtime = work / "runtime"
        subprocess.run([sys.executable, "-m", "venv", str(runtime)], check=True)
        python = runtime / "bin" / "python"
        site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
        # The runtime's preinstalled packages: this environment's, behind the runtime's own (a .pth comes last).
        (site / "preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        print("Colab's additions:", " ".join(COLAB_EXTRAS), flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *COLAB_EXTRAS], check=True)
        fakes = work / "fakes" / "google" / "colab"
        fakes.mkdir(parents=True)
        (fakes / "__init__.py").write_text("# stand-in for Colab's google.colab\n")
        cell = work / "cell.py"
        cell.write_text(notebooks.SETUP_CODE.replace(notebooks.REPO_URL, str(origin)))
        content = work / "content"
        content.mkdir()
        environment = dict(os.environ, PYTHONPATH=str(work / "fakes"), CELL=str(cell), HF_HUB_OFFLINE="1")
        environment.pop("KAGGLE_KERNEL_RUN_TYPE", None)
        result = subprocess.run([str(python), "-c", DRIVER], cwd=content, env=environment, capture_output=True,
                                text=True)
        print(result.stdout)
        print("pip reported dependency conflicts:", "which is incompatible" in result.stdout + result.stderr)
        if result.returncode != 0:
            print(result.stderr[-3000:])
        print(f"total {time.perf_counter() - started:.0f} s; work folder {work}")
        return 0 if result.returncode == 0 and "FAILED" not in result.stdout else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
