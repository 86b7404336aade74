"""Set up a notebook's runtime: install what the project needs on Colab or Kaggle, check versions everywhere.

The notebooks' setup cell loads this file by path and calls prepare(), before the package can be imported (its
requirements may not be installed yet), so it imports nothing from the package and only the standard library
(plus packaging, which every runtime with pip has). Hosted runtimes pin their own CUDA torch and front-end
packages (Jupyter, ipywidgets): replacing them breaks the runtime, so they are checked but never installed.

Setup is done when the installed versions satisfy requirements.txt: that is checked on every run, so a failed or
interrupted install is simply tried again, and a record of success (.setup-done in the project folder) is written
only after it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

KEEP_RUNTIME_OWN = {"torch", "jupyter", "nbclient", "nbconvert", "ipywidgets"}
PROJECT_DISTRIBUTION = "medgemma-case-notebooks"  # this project, when installed (pip install -e .)
DONE_FILE = ".setup-done"
INTERNET_HELP = ("On Kaggle, turn the Internet on: in the notebook's right-hand panel open Settings and switch "
                 "Internet on (Kaggle asks for a verified phone number once); on Colab, check the connection.")
RESTART_HELP = "restart the session (Colab: Runtime > Restart session; Kaggle: Run > Restart & clear cell outputs)"
# pip checks every installed package after installing, and reports conflicts of packages this project never uses.
HARMLESS_CONFLICTS = ("pip's 'dependency conflicts' ERROR above is about packages this project does not use (such "
                      "as sentence-transformers): it is harmless here.")


class SetupError(RuntimeError):
    """Setup could not finish; the message says why and what to do, and running the cell again retries."""


def _packaging() -> tuple[Any, Any]:
    """packaging's Requirement and Version: the installed package, else pip's own copy of it."""
    try:
        from packaging.requirements import Requirement
        from packaging.version import Version
    except ImportError:  # a bare environment: pip carries packaging
        from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
        from pip._vendor.packaging.version import Version  # type: ignore[assignment]
    return Requirement, Version


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(requirements: Path) -> list[str]:
    """The requirement lines of requirements.txt, comments and blank lines left out."""
    lines = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def hosted_requirements(requirements: Path) -> list[str]:
    """The requirement lines a hosted runtime should install (its own torch, Jupyter and widgets stay)."""
    Requirement, _ = _packaging()
    return [line for line in requirement_lines(requirements)
            if _canonical(Requirement(line).name) not in KEEP_RUNTIME_OWN]


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _unmet(lines: list[str]) -> list[tuple[str, str]]:
    """(line, why) for each requirement the installed packages do not meet: missing, too old, excluded, too new."""
    Requirement, _ = _packaging()
    unmet = []
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = installed_version(requirement.name)
        # As requirements.txt writes it (packaging would reorder the parts).
        wanted = re.sub(r"^[\w.\-]+(\[[^\]]*\])?", "", line.split(";")[0]).strip() or "any version"
        if version is None:
            unmet.append((line, f"{requirement.name} is not installed (requirements.txt: {wanted})"))
        elif requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            unmet.append((line, f"{requirement.name} {version} is installed; requirements.txt needs {wanted}"))
    return unmet


def version_problems(lines: list[str]) -> list[str]:
    """One sentence per requirement the installed packages do not meet."""
    return [why for _, why in _unmet(lines)]


def _dependents_constraints(names: set[str]) -> list[str]:
    """What other installed packages require of the packages about to be installed (e.g. transformers<5).

    Passed to pip as constraints, so an upgrade goes no further than this project needs and packages the
    runtime already has (Colab's sentence-transformers) keep working.
    """
    Requirement, _ = _packaging()
    constraints = []
    for distribution in importlib.metadata.distributions():
        owner = distribution.metadata["Name"] or ""
        if _canonical(owner) in names or _canonical(owner) == PROJECT_DISTRIBUTION:  # its own needs are the lines
            continue
        for text in distribution.requires or []:
            try:
                requirement = Requirement(text)
            except Exception:  # noqa: BLE001 - a malformed line in another package's metadata is not ours to fix
                continue
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if _canonical(requirement.name) in names and requirement.specifier:
                constraints.append(f"{requirement.name}{requirement.specifier}")
    return sorted(set(constraints))


def _pip_install(packages: list[str], constraints: list[str]) -> subprocess.CompletedProcess:
    """pip install only what is missing or unsatisfied, no further than needed, within the constraints given."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade-strategy", "only-if-needed"]
    with tempfile.TemporaryDirectory() as folder:
        if constraints:
            constraint_file = Path(folder) / "constraints.txt"
            constraint_file.write_text("\n".join(constraints) + "\n")
            command += ["--constraint", str(constraint_file)]
        return subprocess.run(command + packages, capture_output=True, text=True)


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _install(packages: list[str]) -> None:
    """Install these requirement lines; raise SetupError (nothing marked done) when pip fails."""
    Requirement, _ = _packaging()
    print(f"Installing {', '.join(packages)} (the runtime's own torch, Jupyter and widgets stay).", flush=True)
    constraints = _dependents_constraints({_canonical(Requirement(line).name) for line in packages})
    result = _pip_install(packages, constraints)
    if result.returncode != 0 and constraints and re.search(r"ResolutionImpossible|conflict", result.stderr or ""):
        # The runtime's other packages cannot all be kept happy: install what this project needs anyway.
        result = _pip_install(packages, [])
    if result.returncode != 0:
        output = _tail(result.stderr or result.stdout)
        offline = re.search(r"resolve|connect|network|timed out|No matching distribution", output, re.IGNORECASE)
        raise SetupError(f"Installing the requirements failed (pip exit code {result.returncode}):\n{output}\n"
                         + (INTERNET_HELP + " " if offline else "") + "Then run this cell again: it retries.")
    conflicts = [line for line in (result.stderr or "").splitlines() if "which is incompatible" in line]
    if conflicts:  # installed, but pip also complains about other packages of the runtime
        print("ERROR: pip's dependency conflicts:\n" + "\n".join(conflicts[:4]) + "\n" + HARMLESS_CONFLICTS, flush=True)
    importlib.invalidate_caches()


def _stale_imports() -> list[str]:
    """Packages this kernel imported before they were upgraded: the old version stays in use until a restart."""
    stale = []
    for name in ("transformers", "accelerate", "huggingface_hub", "tokenizers", "PIL", "numpy", "pydicom"):
        module = sys.modules.get(name)
        distribution = {"PIL": "pillow", "huggingface_hub": "huggingface-hub"}.get(name, name)
        loaded, installed = getattr(module, "__version__", None), installed_version(distribution)
        if module is not None and loaded and installed and loaded != installed:
            stale.append(f"{name} {loaded} (now {installed} on disk)")
    return stale


def _widgets_problem() -> str | None:
    """ipywidgets 7 (older Kaggle images) cannot show the quiz; the runtime's widgets are never replaced here."""
    _, Version = _packaging()
    version = installed_version("ipywidgets")
    if version is None or Version(version).major >= 8:
        return None
    return (f"This runtime has ipywidgets {version}, and the quiz and upload widgets need ipywidgets 8 or newer "
            "(with 7 they fail with \"'VBox' object has no attribute '_repr_mimebundle_'\"). On Kaggle choose "
            "Settings > Environment > 'Always use latest environment'; elsewhere run "
            f"%pip install \"ipywidgets>=8\", then {RESTART_HELP}, and run this cell again.")


def _fingerprint(requirements: Path) -> dict[str, Any]:
    return {"python": sys.executable, "requirements": requirements.read_text()}


def prepare(root: str | os.PathLike, *, hosted: bool) -> ModuleType:
    """Make the project importable and its requirements met; return the imported medgemma_helpers.

    Hosted (Colab, Kaggle): install what requirements.txt asks for and the runtime lacks, then check. Locally:
    only check, and say what to install. Raises SetupError with the reason and the fix when setup cannot finish.
    """
    root = Path(root).resolve()
    requirements = root / "requirements.txt"
    done = root / DONE_FILE
    lines = requirement_lines(requirements)
    installable = hosted_requirements(requirements)
    if hosted:
        widgets = _widgets_problem()
        if widgets:
            raise SetupError(widgets)
        unmet = _unmet(installable)
        if unmet:
            done.unlink(missing_ok=True)
            _install([line for line, _ in unmet])
            problems = version_problems(installable)
            if problems:
                raise SetupError("After installing, these requirements are still not met: " + "; ".join(problems)
                                 + f". Run this cell again; if it persists, {RESTART_HELP} first.")
        Requirement, _ = _packaging()
        torch = version_problems([line for line in lines if _canonical(Requirement(line).name) == "torch"])
        if torch:  # the runtime's own CUDA build: only a newer runtime image changes it
            print("Note: this runtime's torch does not meet requirements.txt: " + "; ".join(torch) + ".")
        stale = _stale_imports()
        if stale:
            raise SetupError(f"Installed, but this session already imported older versions: {', '.join(stale)}. "
                             f"Please {RESTART_HELP}, then run this cell again (nothing will be reinstalled).")
        already = done.is_file() and json.loads(done.read_text() or "{}") == _fingerprint(requirements)
        done.write_text(json.dumps(_fingerprint(requirements)))
        print("Setup already done: requirements met." if already else "Setup done: requirements met.")
    else:
        problems = version_problems(lines)
        if problems:
            print("Note: the installed packages do not meet requirements.txt: " + "; ".join(problems)
                  + f". Run: pip install -r {requirements}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return importlib.import_module("medgemma_helpers")


if __name__ == "__main__":
    # By path from a shell: set up the project this file belongs to, installing as on a hosted runtime.
    prepare(Path(__file__).resolve().parent.parent, hosted=True)
