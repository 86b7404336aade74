"""Install the requirements on Colab or Kaggle, keeping the runtime's own torch, Jupyter and widgets.

Run by path (`python medgemma_helpers/hosted_setup.py`) before the package can be imported, so it imports
nothing from it. Hosted runtimes pin their own CUDA torch and front-end packages; replacing them breaks the runtime.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

KEEP_RUNTIME_OWN = {"torch", "jupyter", "nbclient", "nbconvert", "ipywidgets"}


def hosted_requirements(requirements: Path) -> list[str]:
    """The requirement lines a hosted runtime should install (its own torch, Jupyter and widgets stay)."""
    wanted = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-")
        if name not in KEEP_RUNTIME_OWN:
            wanted.append(line)
    return wanted


if __name__ == "__main__":
    requirements_file = Path(__file__).resolve().parent.parent / "requirements.txt"
    packages = hosted_requirements(requirements_file)
    print("Installing:", ", ".join(packages))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *packages], check=True)
