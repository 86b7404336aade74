"""The notebooks' setup cell, run the way Colab and Kaggle run it: the real cell code (notebooks.SETUP_CODE) in a
fresh Python process, against a git clone of this project, with stand-ins for what only those hosts have.

Stand-ins, all on PYTHONPATH ahead of the real packages: a google.colab module (Colab imports it before any
cell runs) or KAGGLE_KERNEL_RUN_TYPE; a `pip` that records what it is asked and then fails, "installs" or does
nothing as each scenario needs; and package metadata (dist-info folders) that make the runtime look as a
host's does: an old transformers, Colab's sentence-transformers that wants transformers<5, ipywidgets 7.
importlib.metadata reads that metadata exactly as it reads real installs, and the stand-in pip "installs" by
removing or replacing it. Everything else is real: git clone, the version checks, the import of the package.
bench/simulate_hosted_setup.py does the same with real pip installs into a fresh virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from medgemma_helpers import hosted_setup, notebooks

FAKE_PIP = '''
import json, os, shutil, sys
from pathlib import Path

log, plan_file, site = os.environ["FAKE_PIP_LOG"], Path(os.environ["FAKE_PIP_PLAN"]), Path(os.environ["FAKE_SITE"])
plan = json.loads(plan_file.read_text())
action = plan.pop(0) if plan else "install"
plan_file.write_text(json.dumps(plan))
args = sys.argv[1:]
constraints = ""
if "--constraint" in args:
    constraints = Path(args[args.index("--constraint") + 1]).read_text()
with open(log, "a") as out:
    out.write(json.dumps({"args": args, "constraints": constraints, "action": action}) + "\\n")
if action == "fail":  # what pip prints when the network drops or Kaggle's Internet is off
    sys.stderr.write("ERROR: Could not find a version that satisfies the requirement transformers (from versions: "
                     "none)\\nERROR: No matching distribution found for transformers\\n")
    sys.exit(1)
if action != "noop" and not constraints:  # what pip adds when an upgrade breaks a package the runtime had
    sys.stderr.write("ERROR: pip's dependency resolver does not currently take into account all the packages that "
                     "are installed. This behaviour is the source of the following dependency conflicts.\\n"
                     "sentence-transformers 3.4.1 requires transformers<5.0.0,>=4.41.0, but you have transformers "
                     "5.1.0 which is incompatible.\\n")
names = {a.split(">")[0].split("<")[0].split("=")[0].split("!")[0].lower() for a in args if not a.startswith("-")}
for folder in site.glob("*.dist-info"):
    if folder.name.split("-")[0].lower() in names:
        if action == "install":  # the real, newer version (in site-packages) becomes the one found
            shutil.rmtree(folder)
        elif action.startswith("install-as:"):  # a newer version than this session imported
            version = action.split(":", 1)[1]
            name = folder.name.split("-")[0]
            shutil.rmtree(folder)
            (site / f"{name}-{version}.dist-info").mkdir()
            (site / f"{name}-{version}.dist-info" / "METADATA").write_text(
                f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n")
'''

DRIVER = '''
import json, os, sys, traceback
from pathlib import Path

if os.environ.get("HOST") == "colab":
    import google.colab  # Colab imports it before the first cell
for name in filter(None, os.environ.get("PREIMPORT", "").split(",")):
    __import__(name)
code = Path(os.environ["CELL"]).read_text()
namespace = {}
for step in json.loads(os.environ["STEPS"]):
    if step.get("cd"):
        os.chdir(step["cd"])
    try:
        exec(code, namespace)
        print("CELL-OK", type(namespace["mh"]).__name__, getattr(namespace["mh"], "__name__", ""), flush=True)
    except Exception as error:
        print("CELL-ERROR", type(error).__name__, " ".join(str(error).split()), flush=True)
    try:  # the next cell of the notebook
        namespace["mh"].list_cases
        print("NEXT-OK", flush=True)
    except Exception as error:
        print("NEXT-ERROR", type(error).__name__, " ".join(str(error).split()), flush=True)
'''


def _dist_info(site: Path, name: str, version: str, requires: list[str] = ()) -> None:
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             *(f"Requires-Dist: {r}" for r in requires)]
    (folder / "METADATA").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A git repository holding this project as it is now (committed and uncommitted files), to clone from."""
    repository = tmp_path_factory.mktemp("origin") / "medgemma-case-notebooks.git"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    names = listed.stdout.split() if listed.returncode == 0 and listed.stdout.strip() else [
        str(path.relative_to(PROJECT_ROOT)) for path in PROJECT_ROOT.rglob("*")
        if path.is_file() and not {".git", ".venv", "__pycache__"} & set(path.parts)]
    for name in names:
        source = PROJECT_ROOT / name
        if source.is_file():
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repository / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"]
    for command in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "working tree"]):
        subprocess.run(git + command, cwd=repository, check=True, capture_output=True)
    return repository


@pytest.fixture
def host(tmp_path, origin):
    """A fresh runtime: its working folder, stand-in modules and metadata, and a runner for the setup cell."""
    fakes, site, content = tmp_path / "fakes", tmp_path / "site", tmp_path / "content"
    (fakes / "google" / "colab").mkdir(parents=True)  # google stays a namespace package
    (fakes / "google" / "colab" / "__init__.py").write_text("# stand-in for Colab's google.colab\n")
    (fakes / "pip").mkdir()
    (fakes / "pip" / "__init__.py").write_text("")
    (fakes / "pip" / "__main__.py").write_text(FAKE_PIP)
    site.mkdir()
    content.mkdir()
    cell = tmp_path / "cell.py"
    cell.write_text(notebooks.SETUP_CODE.replace(notebooks.REPO_URL, str(origin)))
    (tmp_path / "driver.py").write_text(DRIVER)

    class Host:
        folder, clone = content, content / notebooks.CLONE_FOLDER
        pip_log = tmp_path / "pip.jsonl"

        def metadata(self, name: str, version: str, requires: list[str] = ()) -> None:
            _dist_info(site, name, version, requires)

        def run(self, steps: list[dict], *, kind: str = "colab", pip_plan: list[str] = (), cell_code: str = "",
                preimport: str = "", no_site: bool = False) -> list[str]:
            (tmp_path / "plan.json").write_text(json.dumps(list(pip_plan)))
            if cell_code:
                cell.write_text(cell_code)
            environment = {key: value for key, value in os.environ.items()
                           if key not in ("KAGGLE_KERNEL_RUN_TYPE", "PYTHONPATH")}
            environment.update(PYTHONPATH=os.pathsep.join([str(fakes), str(site)]), CELL=str(cell),
                               STEPS=json.dumps(steps), HOST=kind, PREIMPORT=preimport,
                               FAKE_PIP_LOG=str(self.pip_log), FAKE_PIP_PLAN=str(tmp_path / "plan.json"),
                               FAKE_SITE=str(site))
            if kind == "kaggle":
                environment["KAGGLE_KERNEL_RUN_TYPE"] = "Interactive"
            # no_site: without site-packages, where an editable install of the project would be found
            flags = ["-S"] if no_site else []
            result = subprocess.run([sys.executable, *flags, str(tmp_path / "driver.py")], cwd=content, env=environment,
                                    capture_output=True, text=True, timeout=120)
            assert "Traceback" not in result.stderr, result.stderr
            self.output = result.stdout
            return [line for line in result.stdout.splitlines() if line.startswith(("CELL-", "NEXT-"))]

        def pip_calls(self) -> list[dict]:
            if not self.pip_log.exists():
                return []
            return [json.loads(line) for line in self.pip_log.read_text().splitlines()]

    return Host()


def test_colab_failed_install_is_retried_then_setup_is_instant_and_found_from_a_subfolder(host):
    # Colab's image: an old transformers, and sentence-transformers, which wants transformers below 5.
    host.metadata("transformers", "4.50.3")
    host.metadata("sentence_transformers", "3.4.1", ["transformers<5.0.0,>=4.41.0", "torch>=1.11.0"])
    results = host.run([{}, {}, {}, {"cd": str(host.clone / "notebooks")}], pip_plan=["fail", "install"])
    output = host.output

    # Run 1: the network dropped during pip. The cell says so and how to retry; the next cell does not NameError.
    assert results[0].startswith("CELL-ERROR SetupError Installing the requirements failed")
    assert "run this cell again" in results[0] and "Internet" in results[0]
    assert results[1].startswith("NEXT-ERROR RuntimeError Setup has not finished")
    # Run 2: tried again (the clone existed, but setup was not done), and now it succeeds.
    assert results[2] == "CELL-OK module medgemma_helpers" and results[3] == "NEXT-OK"
    # Run 3: nothing to do. Run 4, after %cd notebooks: the project is found above, not cloned a second time.
    assert results[4:] == ["CELL-OK module medgemma_helpers", "NEXT-OK"] * 2
    assert output.count("Setup done: requirements met.") == 1 and output.count("Setup already done") == 2
    assert not (host.clone / "notebooks" / notebooks.CLONE_FOLDER).exists()
    assert sorted(path.name for path in host.folder.iterdir()) == [notebooks.CLONE_FOLDER]
    assert (host.clone / hosted_setup.DONE_FILE).is_file()

    calls = host.pip_calls()
    assert [call["action"] for call in calls] == ["fail", "install"]  # one retry, and none once it was done
    for call in calls:
        # Only what is unmet, exactly as requirements.txt says; the runtime's torch, Jupyter and widgets stay.
        assert call["args"][0] == "install" and call["args"][-1] == "transformers>=4.51.3,!=4.52.*,<6"
        assert not [arg for arg in call["args"] if arg.startswith(("torch", "ipywidgets", "jupyter", "nb"))]
        assert call["args"][call["args"].index("--upgrade-strategy") + 1] == "only-if-needed"
        # No further than needed: the preinstalled sentence-transformers' bound goes to pip as a constraint.
        assert "transformers<5.0.0,>=4.41.0" in call["constraints"]
    assert "which is incompatible" not in output  # the constraint kept sentence-transformers working


def test_pips_conflict_error_is_shown_with_one_line_saying_it_is_harmless(host):
    host.metadata("transformers", "4.50.3")  # no other package bounds it, so pip is given no constraints
    assert host.run([{}]) == ["CELL-OK module medgemma_helpers", "NEXT-OK"]
    lines = host.output.splitlines()
    at = next(index for index, line in enumerate(lines) if "which is incompatible" in line)
    assert lines[at + 1] == hosted_setup.HARMLESS_CONFLICTS


def test_kaggle_with_internet_off_says_how_to_turn_it_on(host):
    results = host.run([{}], kind="kaggle",
                       cell_code=notebooks.SETUP_CODE.replace(notebooks.REPO_URL, str(host.folder / "offline.git")))
    assert results[0].startswith("CELL-ERROR RuntimeError") and "Settings > Internet on" in results[0]
    assert results[1].startswith("NEXT-ERROR RuntimeError Setup has not finished")  # not a bare NameError
    cells = notebooks.all_notebooks()["01_standard_chest_xray.ipynb"]["cells"]
    setup_text = next("".join(cell["source"]) for cell in cells
                      if "".join(cell["source"]).startswith("## Setup"))
    assert "Settings > Internet on" in setup_text  # the Setup text says so up front
    assert host.pip_calls() == []


def test_kaggle_pip_failing_offline_names_the_internet_setting(host):
    host.metadata("transformers", "4.50.3")
    results = host.run([{}], kind="kaggle", pip_plan=["fail"])
    assert results[0].startswith("CELL-ERROR SetupError") and "Settings and switch Internet on" in results[0]
    assert not (host.clone / hosted_setup.DONE_FILE).exists()


def test_ipywidgets_7_is_refused_at_setup_with_the_fix(host):
    host.metadata("ipywidgets", "7.7.1")
    results = host.run([{}], kind="kaggle")
    assert results[0].startswith("CELL-ERROR SetupError This runtime has ipywidgets 7.7.1")
    assert "ipywidgets>=8" in results[0] and "Always use latest environment" in results[0]
    assert results[1].startswith("NEXT-ERROR RuntimeError Setup has not finished")
    assert host.pip_calls() == []  # the runtime's own widgets are never replaced


def test_versions_still_wrong_after_pip_are_named(host):
    host.metadata("transformers", "4.52.3")  # an excluded release
    results = host.run([{}], pip_plan=["noop"])  # pip "succeeded" but changed nothing
    assert results[0].startswith("CELL-ERROR SetupError After installing, these requirements are still not met")
    assert "transformers 4.52.3 is installed; requirements.txt needs >=4.51.3,!=4.52.*,<6" in results[0]


def test_an_upgrade_of_an_already_imported_package_asks_for_a_restart(host):
    host.metadata("transformers", "4.50.3")
    results = host.run([{}], pip_plan=["install-as:5.99.0"], preimport="transformers")
    assert results[0].startswith("CELL-ERROR SetupError Installed, but this session already imported older")
    assert "transformers" in results[0] and "Restart session" in results[0]


def test_locally_nothing_is_installed_and_wrong_versions_are_named(host, origin):
    host.metadata("transformers", "4.50.3")
    results = host.run([{"cd": str(origin / "notebooks")}], kind="local")
    assert results == ["CELL-OK module medgemma_helpers", "NEXT-OK"]
    assert "transformers 4.50.3 is installed; requirements.txt needs" in host.output
    assert f"pip install -r {origin / 'requirements.txt'}" in host.output
    assert host.pip_calls() == [] and not host.clone.exists()


def test_hosted_requirements_keep_the_runtimes_own_packages():
    wanted = hosted_setup.hosted_requirements(PROJECT_ROOT / "requirements.txt")
    names = {line.split(">")[0].split("=")[0].split("<")[0].split("!")[0] for line in wanted}
    assert not names & {"torch", "jupyter", "nbclient", "nbconvert", "ipywidgets"}
    assert "transformers>=4.51.3,!=4.52.*,<6" in wanted and "accelerate>=1.0" in wanted


def test_the_setup_cell_stays_short_and_holds_no_install_logic():
    lines = notebooks.SETUP_CODE.splitlines()
    assert len(lines) <= 32 and "pip" not in notebooks.SETUP_CODE
    assert "hosted_setup.py" in notebooks.SETUP_CODE and "prepare" in notebooks.SETUP_CODE
    source = Path(hosted_setup.__file__).read_text()
    assert "from ." not in source and "import medgemma_helpers" not in source  # runs before the package imports


def test_versions_are_checked_on_every_run_even_after_success(host):
    assert host.run([{}]) == ["CELL-OK module medgemma_helpers", "NEXT-OK"]  # nothing to install
    assert (host.clone / hosted_setup.DONE_FILE).is_file() and host.pip_calls() == []
    host.metadata("transformers", "4.50.3")  # something downgraded it since (another notebook's pip install)
    assert host.run([{}]) == ["CELL-OK module medgemma_helpers", "NEXT-OK"]
    assert [call["action"] for call in host.pip_calls()] == ["install"]
    assert "Setup done: requirements met." in host.output


def test_notebooks_written_elsewhere_find_the_project_they_were_written_from(host, origin, tmp_path):
    elsewhere = tmp_path / "my-class"
    written = notebooks.write_notebooks(elsewhere)
    cells = json.loads((elsewhere / "03_acute_respiratory_distress.ipynb").read_text())["cells"]
    setup = next("".join(cell["source"]) for cell in cells if "hosted_setup.py" in "".join(cell["source"]))
    assert f'"{PROJECT_ROOT.resolve()}"' in setup and len(written) == len(notebooks.case_notebooks())
    # Opened in a folder outside any project, with no installed copy: found where it was written from.
    host.metadata("transformers", "4.50.3")  # so the local check names the requirements file it read
    results = host.run([{}], kind="local", cell_code=notebooks.setup_code(str(origin), project=str(origin)))
    assert results == ["CELL-OK module medgemma_helpers", "NEXT-OK"]
    assert f"pip install -r {origin / 'requirements.txt'}" in host.output and not host.clone.exists()
    # The committed notebooks carry no folder of anyone's.
    committed = (notebooks.NOTEBOOKS_DIR / "03_acute_respiratory_distress.ipynb").read_text()
    assert str(PROJECT_ROOT.resolve()) not in committed and 'PROJECT = \\"\\"' in committed


def test_a_project_not_found_locally_says_what_to_do_and_blames_no_network(host):
    results = host.run([{}], kind="local", no_site=True)
    assert results[0].startswith("CELL-ERROR RuntimeError The project (the folder holding medgemma_helpers/)")
    assert "Open this notebook inside the project" in results[0] and "make-notebooks --out" in results[0]
    assert not any(word in results[0].lower() for word in ("fetch", "network", "internet"))
    assert results[1].startswith("NEXT-ERROR RuntimeError Setup has not finished") and host.pip_calls() == []
