"""The case notebooks: written from one template (so every case has the same skeleton) and executed headless."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .cases import PROJECT_ROOT, Case, list_cases
from .render import DISCLAIMER

# The one place the project's public home is written; badges and the setup cell are generated from it.
REPO_URL = "https://github.com/medgemma-case-notebooks/medgemma-case-notebooks"
REPO_BRANCH = "main"
CLONE_FOLDER = "medgemma-case-notebooks"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

# The skeleton every case notebook follows, in order (a test checks each notebook against it).
SKELETON = ("Learning objectives", "Setup", "Authenticate", "Load MedGemma", "The case", "Your read", "Ask MedGemma",
            "Reveal the answer key", "Discussion and limitations")


def notebook_name(case: Case) -> str:
    """The file name of a case's notebook: its id and slug, lowercase, underscores."""
    return f"{case.id}_{case.slug.replace('-', '_')}.ipynb"


def _badges(name: str) -> str:
    path = REPO_URL.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{path}/blob/{REPO_BRANCH}/notebooks/{name}"
    kaggle = f"https://kaggle.com/kernels/welcome?src={REPO_URL}/blob/{REPO_BRANCH}/notebooks/{name}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({kaggle})")


SETUP_CODE = f'''# On Colab or Kaggle: fetch the project and install its requirements. Locally: nothing to install.
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = "{REPO_URL}"
HOSTED = "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ
if HOSTED and not Path("{CLONE_FOLDER}").is_dir():
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "{CLONE_FOLDER}"], check=True)
    subprocess.run([sys.executable, "{CLONE_FOLDER}/medgemma_helpers/hosted_setup.py"], check=True)
for folder in (Path.cwd(), Path.cwd().parent, Path("{CLONE_FOLDER}").resolve()):
    if (folder / "medgemma_helpers").is_dir():
        sys.path.insert(0, str(folder))
        break

import medgemma_helpers as mh'''


def _objectives(case: Case) -> str:
    if case.image is None:
        first = f"Reason from the history of a {case.title.lower()} case to the imaging you would order and what it would show."
    else:
        first = f"Read a {case.modality.lower()} ({case.view}) systematically: " + "; ".join(
            item.split(":")[0].lower() for item in case.review_checklist[:6]) + "."
    return "\n".join([
        "## Learning objectives",
        "",
        f"- {first}",
        f"- Weigh the differential: {', '.join(d.split(' (')[0].lower() for d in case.differential[:5])}.",
        "- Commit to your own read, then compare it with MedGemma's and with the answer key.",
        "- Recognise what MedGemma 1.5 can and cannot tell you, and why its read needs clinical judgment.",
    ])


def _ask_cells(case: Case) -> list[tuple[str, str]]:
    if case.image is None:
        return [
            ("markdown", "## Ask MedGemma\n\nNo openly licensed image exists for this case, so MedGemma reasons from the "
                         "history alone. To read your own de-identified image (ultrasound or MRI), set `my_image` to its "
                         "path or use `mh.upload_image()`. The prompt is shown above the answer; edit `prompt` to ask "
                         "your own question."),
            ("code", "my_image = None  # or \"path/to/your/pelvic_ultrasound.png\"\n"
                     "prompt = mh.case_prompt(case, own_image=my_image is not None)\n"
                     "findings = mh.run_case(case, model, image=my_image, prompt=prompt)"),
        ]
    return [
        ("markdown", "## Ask MedGemma\n\nThe prompt comes from the case file and is shown above the answer; edit "
                     "`prompt` to ask your own question. The answer streams in as it is written (greedy decoding, so "
                     "the same prompt gives the same answer). For the systematic read residents are taught, use "
                     "`prompt = mh.structured_prompt(case)` and show it with `mh.show_report(findings)`."),
        ("code", "prompt = mh.case_prompt(case)\nfindings = mh.run_case(case, model, prompt=prompt)"),
    ]


def build_notebook(case: Case) -> dict[str, Any]:
    """The notebook for one case, as nbformat 4 JSON, with no outputs."""
    name = notebook_name(case)
    cells: list[tuple[str, str]] = [
        ("markdown", f"# Case {case.id}: {case.title}\n\n{_badges(name)}\n\n"
                     f"**{case.presenting_complaint}**\n\n> {DISCLAIMER}"),
        ("markdown", _objectives(case)),
        ("markdown", "## Setup\n\nOn Colab or Kaggle this cell fetches the project and installs its requirements "
                     "(keeping the runtime's own torch); locally it only finds the helper module. Choose a GPU runtime "
                     "(a T4 is enough)."),
        ("code", SETUP_CODE),
        ("markdown", "## Authenticate\n\nMedGemma is gated: accept its terms on Hugging Face, create a read token, "
                     "and add it as a secret named `HF_TOKEN` (Colab: the key icon; Kaggle: Add-ons > Secrets). The "
                     "token is never printed. A local model folder (`MEDGEMMA_MODEL_ID`) needs none."),
        ("code", "authenticated = mh.authenticate()"),
        ("markdown", "## Load MedGemma\n\nMedGemma 1.5 4B in bfloat16 on the GPU (about 8.6 GB). Loaded once per "
                     "session: running this cell again returns the same model at once."),
        ("code", "model = mh.load_model()"),
        ("markdown", "## The case\n\nLook at the image and the history, and write down your own read before you "
                     "ask the model."),
        ("code", f'case = mh.load_case("{case.id}")\nmh.show_case(case)'),
        ("markdown", "## Your read\n\nCommit to your own findings and impression first: type them in the box, then "
                     "click **Reveal** to see MedGemma's read and the answer key side by side, each scored against "
                     "the key. Running the cell again starts afresh. (Without widgets, call "
                     "`quiz.reveal(\"your read\")`.)"),
        ("code", "quiz = mh.quiz(case, model)\nquiz"),
        *_ask_cells(case),
        ("markdown", "## Reveal the answer key\n\nThe reference findings, diagnosis and teaching points, with how "
                     "MedGemma's read (and yours, if you wrote one above) agrees with each finding. "
                     "`mh.export_handout(case, findings, \"handouts/\")` saves all of it as one HTML page."),
        ("code", "checks = mh.show_answer_key(case, findings, resident_read=quiz.read)"),
        ("markdown", "## Discussion and limitations\n\n"
                     f"- {DISCLAIMER}\n"
                     "- MedGemma 1.5 reads one image at a time here, without priors, lateral views, laboratory "
                     "results or the clinical examination that a radiologist would use.\n"
                     "- It can miss findings, describe findings that are not there, and sound equally confident "
                     "either way; a fluent report is not a correct one.\n"
                     "- The model card describes it as a model for research and education, not tuned for multi-turn "
                     "conversation; each question here is asked afresh.\n"
                     "- Discuss: which findings did you, the model and the key agree on? What would change "
                     "management, and what test comes next?"),
    ]
    return {
        "cells": [_cell(index, kind, source) for index, (kind, source) in enumerate(cells)],
        "metadata": {
            "accelerator": "GPU",
            "colab": {"provenance": []},
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _cell(index: int, kind: str, source: str) -> dict[str, Any]:
    # Stable ids, so regenerating the notebooks gives byte-identical files.
    cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{index:02d}", "metadata": {},
                            "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def notebook_json(case: Case) -> str:
    """The notebook file's exact text."""
    return json.dumps(build_notebook(case), indent=1, ensure_ascii=False) + "\n"


def write_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write every case notebook from the template; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in list_cases():
        path = folder / notebook_name(case)
        path.write_text(notebook_json(case), encoding="utf-8")
        written.append(path)
    return written


def skeleton_problems(notebook: dict[str, Any]) -> list[str]:
    """What keeps a notebook from the shared skeleton: missing or misordered sections, outputs, no disclaimer."""
    problems = []
    headings = [line[3:].strip() for cell in notebook.get("cells", []) if cell.get("cell_type") == "markdown"
                for line in "".join(cell.get("source", "")).splitlines() if line.startswith("## ")]
    if headings != list(SKELETON):
        problems.append(f"sections are {headings}, expected {list(SKELETON)}")
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
    """Run notebooks top to bottom in a fresh kernel each; write executed .ipynb and .html to out."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    notebooks = notebooks or case_notebooks()
    results = []
    for index, path in enumerate(notebooks, 1):
        print(f"[{index}/{len(notebooks)}] {path.name} ...", flush=True)
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        started = time.perf_counter()
        error = None
        try:
            client.execute()
        except CellExecutionError as failure:
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
