"""The case notebooks: written from one template (so every case has the same skeleton) and executed headless."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .cases import CASES_DIR, PROJECT_ROOT, Case, list_cases
from .render import DISCLAIMER
from .reveal import SHOW_ALL_ENV

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


SETUP_CODE = f'''# On Colab or Kaggle: fetch the project once and install what it needs. Locally: only find the project.
import os, runpy, subprocess, sys
from pathlib import Path

REPO_URL, CLONE = "{REPO_URL}", "{CLONE_FOLDER}"
HOSTED = "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ

class SetupNotDone:  # stands in for mh until setup succeeds, so later cells say why instead of a NameError
    def __getattr__(self, name):
        raise RuntimeError("Setup has not finished: read the message under the setup cell, do what it says, "
                           "and run the setup cell again.")

mh = SetupNotDone()
# The project is this folder or a parent (after a %cd), the clone of an earlier run, or a new clone.
root = next((folder for folder in (Path.cwd(), *Path.cwd().parents, Path(CLONE).resolve())
             if (folder / "medgemma_helpers" / "hosted_setup.py").is_file()), None)
if root is None and HOSTED:
    clone = subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPO_URL, CLONE], capture_output=True)
    root = Path(CLONE).resolve() if clone.returncode == 0 else None
if root is None:
    raise RuntimeError(f"The project is not in this folder or its parents, and fetching {{REPO_URL}} failed. "
                       "On Kaggle, turn the Internet on (Settings > Internet on, in the panel on the right); "
                       "then run this cell again.")
mh = runpy.run_path(str(root / "medgemma_helpers" / "hosted_setup.py"))["prepare"](root, hosted=HOSTED)'''


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
                         "path, or run `upload = mh.upload_image()` in a new cell, choose the file, and set "
                         "`my_image = upload.image`; say what it is in `my_image_modality`, so the answer key "
                         "scores the signs of a fibroid on that modality (it assumes your image shows one). The "
                         "prompt is shown above the answer; edit `prompt` to ask your own question. The answer "
                         "stays hidden until you reveal your read above."),
            ("code", "my_image = None  # or \"path/to/your/pelvic_ultrasound.png\"\n"
                     "my_image_modality = \"ultrasound\"  # or \"MRI\": what your image is, so the key scores its signs\n"
                     "prompt = mh.case_prompt(case, own_image=my_image is not None)\n"
                     "findings = mh.run_case(case, model, image=my_image, modality=my_image_modality, prompt=prompt)"),
        ]
    return [
        ("markdown", "## Ask MedGemma\n\nThe prompt comes from the case file and is shown above the answer; edit "
                     "`prompt` to ask your own question. MedGemma's answer stays hidden until you reveal your read "
                     "above, then appears here; this is the read the quiz compares with yours (greedy decoding, so "
                     "the same prompt always gives the same answer). For the systematic read residents are taught, "
                     "use `prompt = mh.structured_prompt(case)` and show it with `mh.show_report(findings)`."),
        ("code", "prompt = mh.case_prompt(case)\nfindings = mh.run_case(case, model, prompt=prompt)"),
    ]


def _head(title: str, name: str, tagline: str, objectives: str) -> list[tuple[str, str]]:
    """Title with badges, objectives, setup, authentication and loading: the same in every notebook."""
    return [
        ("markdown", f"# {title}\n\n{_badges(name)}\n\n**{tagline}**\n\n> {DISCLAIMER}"),
        ("markdown", objectives),
        ("markdown", "## Setup\n\nOn Colab or Kaggle this cell fetches the project and installs what it needs "
                     "(keeping the runtime's own torch); locally it only finds the helper module. Choose a GPU runtime "
                     "(a T4 is enough). **On Kaggle, turn the Internet on first**: Settings > Internet on, in the "
                     "panel on the right. If pip prints a red \"dependency conflicts\" error about packages this "
                     "project does not use, it is harmless. If anything fails, the cell says what to do; running it "
                     "again retries."),
        ("code", SETUP_CODE),
        ("markdown", "## Authenticate\n\nMedGemma is gated: accept its terms on Hugging Face, create a read token, "
                     "and add it as a secret named `HF_TOKEN` (Colab: the key icon; Kaggle: Add-ons > Secrets). The "
                     "token is never printed. A local model folder (`MEDGEMMA_MODEL_ID`) needs none."),
        ("code", "authenticated = mh.authenticate()"),
        ("markdown", "## Load MedGemma\n\nMedGemma 1.5 4B in bfloat16 on the GPU (about 8.6 GB). Loaded once per "
                     "session: running this cell again returns the same model at once. To use a class server "
                     "instead, set `MEDGEMMA_ENDPOINT` or write `model = mh.connect(\"http://server:8000\")`."),
        ("code", "model = mh.load_model()"),
    ]


def _discussion(points: list[str]) -> tuple[str, str]:
    return ("markdown", "## Discussion and limitations\n\n" + "\n".join(f"- {point}" for point in [DISCLAIMER, *points]))


def _notebook(cells: list[tuple[str, str]]) -> dict[str, Any]:
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


def build_notebook(case: Case) -> dict[str, Any]:
    """The notebook for one case, as nbformat 4 JSON, with no outputs."""
    return _notebook([
        *_head(f"Case {case.id}: {case.title}", notebook_name(case), case.presenting_complaint, _objectives(case)),
        ("markdown", "## The case\n\n" + ("Look at the image and the history, and form your own read before "
                                           "you see the model's." if case.image is not None else
                                           "There is no image: read the history and reason to the diagnosis and the "
                                           "imaging you would order before you see the model's answer.")),
        ("code", f'case = mh.load_case("{case.id}")\nmh.show_case(case)'),
        ("markdown", "## Your read\n\nCommit to your own findings and impression first: type them in the box and "
                     "click **Reveal** (or **Skip, show me**). Until you do, MedGemma's read and the answer key stay "
                     "hidden, even under Run All; MedGemma reads in the background meanwhile, and the cells below fill "
                     "in when you reveal, each read scored against the key. Running the cell again starts afresh. "
                     "(Without widgets, call `quiz.reveal(\"your read\")`.) A teacher preparing a lecture sets "
                     "`SHOW_EVERYTHING = True` to see it all at once."),
        ("code", "SHOW_EVERYTHING = False  # teachers preparing a lecture: True shows the model's read and the key at once\n"
                 "quiz = mh.quiz(case, model, show_everything=SHOW_EVERYTHING)\nquiz"),
        *_ask_cells(case),
        ("markdown", "## Reveal the answer key\n\nThe reference findings, diagnosis and teaching points, with how "
                     "MedGemma's read (and yours, if you wrote one above) agrees with each finding. "
                     "`mh.export_handout(case, findings, \"handouts/\")` saves all of it as one HTML page."),
        ("code", "checks = mh.show_answer_key(case, findings, resident_read=quiz.read)"),
        _discussion([
            "MedGemma 1.5 reads one image at a time here, without priors, lateral views, laboratory results or the "
            "clinical examination that a radiologist would use.",
            "It can miss findings, describe findings that are not there, and sound equally confident either way; a "
            "fluent report is not a correct one.",
            "The model card describes it as a model for research and education, not tuned for multi-turn "
            "conversation; each question here is asked afresh.",
            "Discuss: which findings did you, the model and the key agree on? What would change management, and what "
            "test comes next?",
        ]),
    ])


YOUR_READ = ("## Your read\n\nBefore asking the model, write your own read in `my_read` below: the Reveal "
             "section shows it again, beside the answer key, for the discussion.")
SHOW_MY_READ = "print(\"Your read:\", my_read or \"(none written)\")\n"


def _skill_notebooks() -> dict[str, list[tuple[str, str]]]:
    """Notebooks 07-09: MedGemma 1.5's CT volume, localisation and longitudinal skills, in the same skeleton."""
    ct_name, box_name, pair_name = "07_ct_volume.ipynb", "08_anatomy_localisation.ipynb", "09_longitudinal_comparison.ipynb"
    return {
        ct_name: [
            *_head("CT volume: windowing and a whole series", ct_name,
                   "Read a CT series the way MedGemma 1.5 was trained to: up to 85 slices, three windows each.",
                   "## Learning objectives\n\n- Window a CT slice from DICOM: lung, mediastinum and bone presets.\n"
                   "- See how MedGemma 1.5 reads a volume: 85 slices sampled evenly, each coded as RGB from three "
                   "windows (R -1024..1024, G -135..215, B 0..80 HU) and labelled SLICE n.\n"
                   "- Judge what a volume read can and cannot tell you."),
            ("markdown", "## The case\n\nA single CT slice from pydicom's sample data in three windows, then a series. "
                         "Set `CT_FOLDER` to the folder of one CT series exported from your PACS (de-identified); by "
                         "default a synthetic phantom with known Hounsfield units is written to a temporary folder."),
            ("code", "from pydicom.data import get_testdata_file\n\n"
                     "ct_slice = get_testdata_file(\"CT_small.dcm\")\n"
                     "windows = [\"lung\", \"mediastinum\", \"bone\"]\n"
                     "mh.montage([mh.load_image(ct_slice, window=w) for w in windows], labels=windows, columns=3)"),
            ("code", "import tempfile\n\nCT_FOLDER = None  # or \"path/to/one/ct/series\"\n"
                     "volume = mh.load_ct_series(CT_FOLDER or mh.write_demo_ct_series(tempfile.mkdtemp()))\n"
                     "mh.show_volume(volume)"),
            ("markdown", YOUR_READ),
            ("code", "my_read = \"\"  # e.g. \"A small nodule in the right lung on the middle slices.\""),
            ("markdown", "## Ask MedGemma\n\nThe helper samples at most 85 slices, encodes each in the three windows and "
                         "sends image, \"SLICE n\", image, \"SLICE n\", ..., then the question. Fewer slices "
                         "(`max_slices=40`) need less GPU memory."),
            ("code", "question = \"Is there a focal lung lesion? If so, in which lung and on which slices?\"\n"
                     "findings = mh.analyze_volume(volume, question, model=model)"),
            ("markdown", "## Reveal the answer key\n\nFor the synthetic phantom: one 7 mm soft-tissue nodule (30 HU) in "
                         "the patient's right lung (the left of the image) on the middle slices, and nothing else. These "
                         "are the slices the model saw:"),
            ("code", SHOW_MY_READ + "mh.montage(mh.ct_windows(volume), labels=mh.volume_request(volume, question)[1])"),
            _discussion([
                "A phantom only shows the mechanics; MedGemma was trained on real CT, and its read of a phantom means "
                "little.",
                "Sampling 85 slices from a thin-slice series skips most of them: a small lesion can fall between "
                "samples.",
                "Discuss: which window would you use for a lung nodule, a mediastinal node, a rib fracture?",
            ]),
        ],
        box_name: [
            *_head("Anatomy localisation: boxes on a radiograph", box_name,
                   "Ask MedGemma 1.5 where structures are, and draw its boxes on the film.",
                   "## Learning objectives\n\n- Ask for boxes in MedGemma 1.5's format: `[y0, x0, y1, x1]` "
                   "normalised to 0-1000 in a json block.\n- Map them back to the original film's pixels, undoing "
                   "the square padding.\n- Check the model's left and right against radiological convention."),
            ("markdown", "## The case\n\nThe normal PA radiograph of case 01."),
            ("code", "case = mh.load_case(\"01\")\nimage = mh.case_image(case)\nmh.show_case(case)"),
            ("markdown", YOUR_READ),
            ("code", "my_read = \"\"  # e.g. where you would draw each box"),
            ("markdown", "## Ask MedGemma\n\nThe prompt is Google's localisation prompt; the image is padded to a "
                         "square first, and the boxes are mapped back to the original pixels."),
            ("code", "structures = \"right lung, left lung and heart\"\n"
                     "findings, boxes = mh.localize(image, structures, model=model)\nboxes"),
            ("markdown", "## Reveal the answer key\n\nThe boxes drawn on the film. The patient's right lung is on the "
                         "left of the image; the heart sits mostly to the image's right. A malformed or missing answer "
                         "draws nothing and says so."),
            ("code", SHOW_MY_READ + "mh.show_boxes(image, boxes)"),
            _discussion([
                "Boxes are approximate: check every edge against the anatomy.",
                "Left-right errors are the classic failure: the marker on the film is the reference.",
            ]),
        ],
        pair_name: [
            *_head("Prior versus current: longitudinal comparison", pair_name,
                   "Give MedGemma 1.5 a prior and a current film and ask what changed.",
                   "## Learning objectives\n\n- Send two studies in one prompt: prior first, then current, then the "
                   "question.\n- Read the answer as a change table: improved, stable, worsened.\n- Know what a "
                   "comparison needs: the same patient, projection and technique."),
            ("markdown", "## The case\n\nNo openly licensed prior/current pair of one patient is available, so this "
                         "demonstration pairs the normal film of case 01 (as the *prior*) with the effusion of case 03 "
                         "(as the *current*). **They are different patients**: this shows the mechanics only. Set "
                         "`PRIOR` and `CURRENT` to a real pair (paths, DICOM files or URLs)."),
            ("code", "PRIOR, CURRENT = None, None  # or \"prior.dcm\", \"current.dcm\"\n"
                     "prior = PRIOR or mh.case_image(\"01\")\ncurrent = CURRENT or mh.case_image(\"03\")\n"
                     "mh.show_pair(prior, current)"),
            ("markdown", YOUR_READ),
            ("code", "my_read = \"\"  # e.g. \"New large right pleural effusion.\""),
            ("markdown", "## Ask MedGemma\n\nThe prompt asks for a comparison ending in a Finding | Change | Details "
                         "table; the helper renders it colour-coded when the model gives one."),
            ("code", "findings, changes = mh.compare_studies(prior, current, model=model)"),
            ("markdown", "## Reveal the answer key\n\nIf the two films were one patient's: a new large right pleural "
                         "effusion with a meniscus and a new catheter over the right chest; the left lung unchanged."),
            ("code", SHOW_MY_READ + "changes"),
            _discussion([
                "Comparing different patients, projections or exposures produces false changes.",
                "The model has no access to the dates, the reports or the clinical course.",
            ]),
        ],
    }
def _cell(index: int, kind: str, source: str) -> dict[str, Any]:
    # Stable ids, so regenerating the notebooks gives byte-identical files.
    cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{index:02d}", "metadata": {},
                            "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def all_notebooks() -> dict[str, dict[str, Any]]:
    """Every notebook the template makes, by file name: the six cases, then the skill notebooks."""
    made = {notebook_name(case): build_notebook(case) for case in list_cases(CASES_DIR)}
    made.update({name: _notebook(cells) for name, cells in _skill_notebooks().items()})
    return made


def notebook_text(notebook: dict[str, Any]) -> str:
    """A notebook's exact file text."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def write_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write every notebook from the template; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, notebook in all_notebooks().items():
        path = folder / name
        path.write_text(notebook_text(notebook), encoding="utf-8")
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
    out.mkdir(parents=True, exist_ok=True)
    notebooks = notebooks or case_notebooks()
    # A walkthrough shows everything: no resident is there to commit a read first (reveal.py). The kernels
    # inherit this process's environment; it is restored afterwards.
    previous = os.environ.get(SHOW_ALL_ENV)
    os.environ[SHOW_ALL_ENV] = "1"
    try:
        return _execute(out, notebooks, timeout)
    finally:
        if previous is None:
            os.environ.pop(SHOW_ALL_ENV, None)
        else:
            os.environ[SHOW_ALL_ENV] = previous


def _execute(out: Path, notebooks: list[Path], timeout: int) -> list[dict[str, Any]]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert import HTMLExporter

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
