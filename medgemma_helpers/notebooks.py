"""The notebooks: written from templates a teacher can edit, and executed headless.

notebooks/templates/ holds the notebooks' text as jupytext markdown with Jinja placeholders: case.md for every
case (the project's, or a teacher's through MEDGEMMA_CASES_DIR), one file for each other notebook, and the shared
head and discussion. `python -m medgemma_helpers make-notebooks` renders them with the case files into
notebooks/*.ipynb, so a case notebook carries its history, red flags, differential and the exact question put to
MedGemma in its own markdown, readable on GitHub before anyone runs it. A test keeps the committed notebooks equal
to the templates' output.

Layer: apps. May import anything below it.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from .asking import NO_ANSWER_YET, QUICK_START_MAX_NEW_TOKENS, QUICK_START_QUESTION
from .case_view import systematic_checklist
from .cases import CASES_DIR, PROJECT_ROOT, Case, list_cases, load_case
from .comparison import IDENTITY_PAIR, SERIES_FILE, series_films
from .ct_volume import NOTEBOOK_QUESTION, VOLUME_MAX_NEW_TOKENS
from .demo_data import THIN_SLICES, demo_lesion, thin_slice_lesion
from .errors import InputError
from .localisation import NOTEBOOK_STRUCTURES
from .patient import PATIENT_NOTEBOOK_CASES
from .render import DISCLAIMER
from .reveal import SHOW_ALL_ENV
from .trust import LITERATURE, TRUST_CASE, context_questions

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
TEMPLATES_DIR = NOTEBOOKS_DIR / "templates"
# The one place the project's public home is written (a teacher's fork rewrites it with
# `make-notebooks --repo-url`); badges and the setup cell are generated from it.
REPO_URL_FILE = TEMPLATES_DIR / "repository.txt"
# Without the templates (an installed copy, not the project) nothing here can be built, but the commands still load.
REPO_URL = REPO_URL_FILE.read_text(encoding="utf-8").strip() if REPO_URL_FILE.is_file() else ""
REPO_BRANCH = "main"
CLONE_FOLDER = "medgemma-case-notebooks"

# The skeleton every case notebook follows, in order (a test checks each notebook against it): medicine first.
SKELETON = ("The case", "Learning objectives", "Setup", "Authenticate", "Load MedGemma", "Your read", "Ask MedGemma",
            "Reveal the answer key", "Discussion and limitations")
# The top and the end every skill notebook shares; its own sections between say what their cells do.
SKILL_TOP = ("Learning objectives", "Setup", "Authenticate", "Load MedGemma")
SKILL_END = "Discussion and limitations"


def notebook_name(case: Case) -> str:
    """The file name of a case's notebook: its id and slug, lowercase, underscores."""
    return f"{case.id}_{case.slug.replace('-', '_')}.ipynb"


def _badges(name: str, repo_url: str) -> str:
    path = repo_url.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{path}/blob/{REPO_BRANCH}/notebooks/{name}"
    kaggle = f"https://kaggle.com/kernels/welcome?src={repo_url}/blob/{REPO_BRANCH}/notebooks/{name}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({kaggle})")


def setup_code(repo_url: str, project: str = "") -> str:
    """The setup cell's code for the project at repo_url (and, for notebooks written elsewhere, its folder here)."""
    return _SETUP.replace("@REPO_URL@", repo_url).replace("@PROJECT@", project)


_SETUP = f'''# On Colab or Kaggle: fetch the project once and install what it needs. Locally: only find the project.
import importlib.util, os, runpy, subprocess, sys
from pathlib import Path

REPO_URL, CLONE = "@REPO_URL@", "{CLONE_FOLDER}"
PROJECT = "@PROJECT@"  # the project's folder, in notebooks written outside it (make-notebooks --out)
HOSTED = "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ

class SetupNotDone:  # stands in for mh until setup succeeds, so later cells say why instead of a NameError
    def __getattr__(self, name):
        raise RuntimeError("Setup has not finished: read the message under the setup cell, do what it says, "
                           "and run the setup cell again.")

mh = SetupNotDone()
# The project: this folder or a parent, the folder these notebooks were written from, an installed copy
# (an editable install), the clone of an earlier run, or (on Colab or Kaggle) a new clone.
spec = None if HOSTED else importlib.util.find_spec("medgemma_helpers")
places = [Path.cwd(), *Path.cwd().parents, *[Path(p) for p in [PROJECT] if p], Path(CLONE).resolve(),
          *([Path(spec.origin).parent.parent] if spec and spec.origin else [])]
root = next((folder for folder in places if (folder / "medgemma_helpers" / "hosted_setup.py").is_file()), None)
if root is None and HOSTED:
    clone = subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPO_URL, CLONE], capture_output=True)
    root = Path(CLONE).resolve() if clone.returncode == 0 else None
    if root is None:
        raise RuntimeError(f"Fetching {{REPO_URL}} failed. On Kaggle, turn the Internet on (Settings > Internet "
                           "on, in the panel on the right); on Colab, check the connection. Then run this cell again.")
if root is None:
    raise RuntimeError("The project (the folder holding medgemma_helpers/) is not this folder or a parent of it, and "
                       "is not installed here. Open this notebook inside the project, or write it with the project's "
                       "make-notebooks --out, or install the project into this kernel's Python; then run this cell "
                       "again.")
mh = runpy.run_path(str(root / "medgemma_helpers" / "hosted_setup.py"))["prepare"](root, hosted=HOSTED)'''
SETUP_CODE = setup_code(REPO_URL)


def checked_repo_url(url: str) -> str:
    """A GitHub repository address as the badges and the setup cell need it, or an InputError saying why not."""
    cleaned = str(url).strip().removesuffix("/").removesuffix(".git")
    # Colab opens notebooks from GitHub only, and the setup cell clones the same address.
    if not re.fullmatch(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", cleaned):
        raise InputError(f"Repository address {str(url)[:120]!r} is not a GitHub repository; give it as "
                         "https://github.com/OWNER/NAME (Colab opens notebooks from GitHub only).")
    return cleaned


def set_repo_url(url: str) -> str:
    """Record a teacher's fork as the project's home (badges and setup cell); the checked address."""
    cleaned = checked_repo_url(url)
    REPO_URL_FILE.write_text(cleaned + "\n", encoding="utf-8")
    return cleaned


def _markdown_text(value: Any) -> str:
    """Case text inside notebook markdown: shown as written, never as HTML (a teacher's "<" stays a "<")."""
    return html.escape(" ".join(str(value).split()), quote=False)


def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["md"] = _markdown_text
    # An attribution followed by more text needs its full stop, once.
    environment.filters["sentence"] = lambda value: _markdown_text(value).rstrip(".") + "."
    return environment


def _render(template: str, name: str, repo_url: str = REPO_URL, project: str = "", **values: Any) -> dict[str, Any]:
    """A template (jupytext markdown with Jinja placeholders) rendered and read as notebook JSON, no outputs."""
    import jupytext

    text = _environment().get_template(template).render(
        badges=_badges(name, repo_url), disclaimer=DISCLAIMER, setup_code=setup_code(repo_url, project), **values)
    notebook = jupytext.reads(text, fmt="md")
    cells = [_cell(index, cell.cell_type, cell.source) for index, cell in enumerate(notebook.cells)]
    metadata = {key: value for key, value in notebook.metadata.items() if key != "jupytext"}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _case_objectives(case: Case, checklist: tuple[str, ...], blind: bool) -> list[str]:
    """The objectives shown before the read: generic, so they name no finding of this case."""
    if case.image is None:
        first = (f"Reason from the history of a patient with {case.title.lower()} to the imaging you would order "
                 "and what it would show.")
    else:
        first = f"Read a {case.modality.lower()} ({case.view}) systematically: " + "; ".join(
            item.split(":")[0].lower() for item in checklist[:6]) + "."
    differential = [] if blind else [
        f"Weigh the differential: {'; '.join(d.split(' (')[0].lower() for d in case.differential[:5])}."]
    return [first, *differential,
            "Commit to your own read, then compare it with MedGemma's and with the answer key.",
            "Recognise what MedGemma 1.5 can and cannot tell you, and why its read needs clinical judgment."]


def build_notebook(case: Case, *, blind: bool | None = None, repo_url: str = REPO_URL,
                   project: str = "") -> dict[str, Any]:
    """The notebook for one case, from notebooks/templates/case.md and the case file, with no outputs.

    blind=True holds the differential back until after the reveal; None keeps the template's own BLIND setting.
    project: the project folder, for a notebook written outside it (its setup cell looks there).
    """
    patient = ", ".join(part for part in (f"{case.patient.age}-year-old" if case.patient.age else "",
                                          case.patient.sex or "") if part)
    checklist = systematic_checklist(case)
    # The template's BLIND decides unless the caller does; the objectives must follow the same choice.
    blinded = _template_blind() if blind is None else blind
    return _render("case.md", notebook_name(case), repo_url, project, case=case, patient=patient, blind=blinded,
                   title=f"Case {case.id}: {case.title}", tagline=_markdown_text(case.presenting_complaint),
                   checklist=checklist, objectives=_case_objectives(case, checklist, blinded),
                   pointers=() if checklist == case.review_checklist else case.review_checklist)


def _template_blind() -> bool:
    """The BLIND set at the top of case.md (True as shipped: the differential waits for the read)."""
    # Read here rather than inside the template, so the objectives above the read follow the same choice.
    source = (TEMPLATES_DIR / "case.md").read_text(encoding="utf-8")
    return re.search(r"\{%-?\s*set\s+BLIND\s*=\s*(?:True|true)\s*-?%\}", source) is not None


# The notebooks that are not one case each, by file name: each from its own template.
OTHER_NOTEBOOKS = ("00_quick_start.ipynb", "07_ct_volume.ipynb", "08_anatomy_localisation.ipynb",
                   "09_longitudinal_comparison.ipynb", "10_class_review.ipynb",
                   "11_when_to_trust_medgemma.ipynb", "12_explain_to_patient.ipynb", "13_find_it_drill.ipynb")


def _cell(index: int, kind: str, source: str) -> dict[str, Any]:
    # Stable ids, so regenerating the notebooks gives byte-identical files.
    cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{index:02d}", "metadata": {},
                            "source": source.splitlines(keepends=True)}
    if kind == "code" and source.startswith("# @title"):
        # Plumbing shows as its one-line title in Colab (a form cell); elsewhere the title is its first line.
        cell["metadata"] = {"cellView": "form"}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def all_notebooks(cases: list[Case] | None = None, *, blind: bool | None = None, repo_url: str = REPO_URL,
                  project: str = "") -> dict[str, dict[str, Any]]:
    """Every notebook the templates make, by file name: the quick start, one per case, the skills, the review."""
    made = {name: _render(name.replace(".ipynb", ".md"), name, repo_url, project,
                          ct_question=NOTEBOOK_QUESTION,
                          ct_max_new_tokens=VOLUME_MAX_NEW_TOKENS, demo_lesion=demo_lesion(),
                          thin_slices=THIN_SLICES, thin_lesion=thin_slice_lesion(),
                          pair=[load_case(case, CASES_DIR) for case in IDENTITY_PAIR],
                          structures=NOTEBOOK_STRUCTURES, question=QUICK_START_QUESTION, no_answer=NO_ANSWER_YET,
                          case_system=load_case("01", CASES_DIR).system_prompt,
                          max_new_tokens=QUICK_START_MAX_NEW_TOKENS, series=series_films(CASES_DIR / SERIES_FILE),
                          film=load_case("01", CASES_DIR).image,
                          trust_case=TRUST_CASE, trust_contexts=context_questions(), literature=LITERATURE,
                          patient_cases=[load_case(c, CASES_DIR) for c in PATIENT_NOTEBOOK_CASES])
            for name in OTHER_NOTEBOOKS}
    made.update({notebook_name(case): build_notebook(case, blind=blind, repo_url=repo_url, project=project)
                 for case in (cases or list_cases(CASES_DIR))})
    return dict(sorted(made.items()))


def notebook_text(notebook: dict[str, Any]) -> str:
    """A notebook's exact file text."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def write_notebooks(folder: Path = NOTEBOOKS_DIR, cases_folder: Path | None = None, *, blind: bool | None = None,
                    repo_url: str | None = None) -> list[Path]:
    """Write every notebook from the templates (cases from cases_folder, else the project's); the paths written.

    Notebooks written outside the project carry its folder, so their setup cell finds it wherever they are opened
    on this computer (inside the project it finds itself, and the committed notebooks hold no personal path).
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    chosen = list_cases(cases_folder) if cases_folder else None
    project = "" if folder.resolve().is_relative_to(PROJECT_ROOT.resolve()) else str(PROJECT_ROOT.resolve())
    for name, notebook in all_notebooks(chosen, blind=blind, repo_url=repo_url or REPO_URL, project=project).items():
        path = folder / name
        path.write_text(notebook_text(notebook), encoding="utf-8")
        written.append(path)
    return written


def skeleton_problems(notebook: dict[str, Any], *, skill: bool = False) -> list[str]:
    """What keeps a notebook from its skeleton: missing or misordered sections, outputs, no disclaimer.

    A case notebook has exactly SKELETON's sections; a skill notebook (skill=True) starts with SKILL_TOP, ends with
    the discussion, and names its own sections in between (none of them the case notebook's read-and-reveal ones).
    """
    problems = []
    headings = [line[3:].strip() for cell in notebook.get("cells", []) if cell.get("cell_type") == "markdown"
                for line in "".join(cell.get("source", "")).splitlines() if line.startswith("## ")]
    if not skill and headings != list(SKELETON):
        problems.append(f"sections are {headings}, expected {list(SKELETON)}")
    own = headings[len(SKILL_TOP):-1]
    if skill and (tuple(headings[:len(SKILL_TOP)]) != SKILL_TOP or headings[-1:] != [SKILL_END] or not own
                  or set(own) & (set(SKELETON) - set(SKILL_TOP))):
        problems.append(f"sections are {headings}, expected {list(SKILL_TOP)}, then the notebook's own sections "
                        f"(not named as a case notebook's), then {SKILL_END!r}")
    cells = notebook.get("cells", [])
    title = "".join(cells[0].get("source", "")) if cells else ""
    if not title.startswith("# ") or "colab-badge" not in title or "open-in-kaggle" not in title:
        problems.append("the first cell must be the title with the Colab and Kaggle badges")
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"cell {index} holds outputs or an execution count; clear them before committing")
    if not any("not a diagnostic tool" in "".join(cell.get("source", "")) for cell in cells):
        problems.append("no cell says that this is not a diagnostic tool")
    return problems


def case_notebooks() -> list[Path]:
    """The committed notebooks, in order."""
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def execute_notebooks(out: Path, notebooks: list[Path] | None = None, *, timeout: int = 3600) -> list[dict[str, Any]]:
    """Run notebooks top to bottom in a fresh kernel each, working in out; write executed .ipynb and .html there.

    Whatever a notebook writes (handouts, the class review's CSV, saved reads) lands in out too, never beside the
    project's notebooks.
    """
    out.mkdir(parents=True, exist_ok=True)
    notebooks = notebooks or case_notebooks()
    # A walkthrough shows everything: no resident is there to commit a read first (reveal.py). The kernels work in
    # out, so their setup cell finds the project through PYTHONPATH. They inherit this process's environment,
    # which is restored afterwards.
    paths = [str(PROJECT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    settings = {SHOW_ALL_ENV: "1", "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        return _execute(out, notebooks, timeout)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _execute(out: Path, notebooks: list[Path], timeout: int) -> list[dict[str, Any]]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert import HTMLExporter

    results = []
    for index, path in enumerate(notebooks, 1):
        print(f"[{index}/{len(notebooks)}] {path.name} ...", flush=True)
        notebook = nbformat.read(path, as_version=4)
        # The kernel's own log stays at errors: its per-notebook note that local TCP is unencrypted is noise here
        # (the kernel is this machine's own child process, on loopback).
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                resources={"metadata": {"path": str(out)}})
        started = time.perf_counter()
        error = None
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as failure:
            error = str(failure).splitlines()[-1] if str(failure) else type(failure).__name__
        seconds = time.perf_counter() - started
        executed = out / path.name
        nbformat.write(notebook, executed)
        html, _ = HTMLExporter().from_notebook_node(notebook)
        executed.with_suffix(".html").write_text(html, encoding="utf-8")
        status = "failed: " + error if error else "done"
        print(f"    {status} in {seconds:.0f} s -> {executed} and {executed.with_suffix('.html').name}", flush=True)
        results.append({"notebook": path.name, "seconds": seconds, "error": error, "executed": executed})
    return results
