"""Read first, in a real kernel: Run All shows neither MedGemma's read nor the key until a read is committed and the
resident has kept or revised it."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

import medgemma_helpers as mh
from medgemma_helpers import notebooks, reveal

HIDDEN_MARKERS = ("medgemma-findings", "medgemma-answer-key", "mh-concordance", "mh-comparison")


def _outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def _section_cells(notebook, heading: str) -> list:
    """The code cells under a '## heading' markdown cell, up to the next heading."""
    cells, inside = [], False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            inside = "".join(cell.source).startswith(f"## {heading}")
        elif inside:
            cells.append(cell)
    return cells


@pytest.fixture
def live_kernel_environment(case_environment, monkeypatch):
    for name, value in case_environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(reveal.SHOW_ALL_ENV, raising=False)  # a live kernel, not the headless walkthrough


@pytest.mark.parametrize("notebook_name", ["03_acute_respiratory_distress.ipynb", "06_heavy_menstrual_bleeding.ipynb"])
def test_run_all_reveals_nothing_until_a_read_is_committed(live_kernel_environment, notebook_name):
    path = notebooks.NOTEBOOKS_DIR / notebook_name
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):  # Run All, cell by cell, in one live kernel
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        before = "\n".join(_outputs_text(cell) for cell in notebook.cells if cell.cell_type == "code")
        assert not [marker for marker in HIDDEN_MARKERS if marker in before], "revealed before a read was committed"
        ask, key = _section_cells(notebook, "Ask MedGemma"), _section_cells(notebook, "Reveal the answer key")
        assert "stays hidden until you commit your own read" in _outputs_text(ask[-1])
        assert "answer key is hidden" in _outputs_text(key[-1])
        history = mh.load_case(notebook_name[:2]).history[:40]
        assert history in before  # the case itself is shown: only the answers wait

        # The resident commits a read, as the Reveal button does: the read shown appears, nothing scored anywhere.
        commit = nbformat.v4.new_code_cell("quiz.reveal('No pneumothorax. Large right pleural effusion.')")
        notebook.cells.append(commit)
        client.execute_cell(commit, len(notebook.cells) - 1)
        assert "mh-first-look" in _outputs_text(commit)
        committed = "\n".join(_outputs_text(cell) for cell in notebook.cells if cell.cell_type == "code")
        assert not [marker for marker in HIDDEN_MARKERS if marker in committed], "scored before the decision"
        assert "answer key is hidden" in _outputs_text(key[-1])
        # Then keeps it, as Keep my read does: the key and the scores come now.
        keep = nbformat.v4.new_code_cell("quiz.keep()")
        notebook.cells.append(keep)
        client.execute_cell(keep, len(notebook.cells) - 1)
        assert "medgemma-findings" in _outputs_text(ask[-1])  # the Ask cell filled in ...
        revealed_key = _outputs_text(key[-1])
        assert "medgemma-answer-key" in revealed_key
        assert "No pneumothorax. Large right pleural effusion." in revealed_key
        # ... with the same read the quiz compares: one read per notebook
        same = nbformat.v4.new_code_cell("print(quiz.findings is findings, quiz.findings.text == findings.text)")
        notebook.cells.append(same)
        client.execute_cell(same, len(notebook.cells) - 1)
        assert "True True" in _outputs_text(same)


def test_the_teachers_switch_shows_everything_at_once(live_kernel_environment):
    path = notebooks.NOTEBOOKS_DIR / "01_standard_chest_xray.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and "SHOW_EVERYTHING = False" in "".join(cell.source):
            cell.source = "".join(cell.source).replace("SHOW_EVERYTHING = False", "SHOW_EVERYTHING = True")
            break
    else:
        pytest.fail("notebook 01 has no SHOW_EVERYTHING switch")
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    shown = "\n".join(_outputs_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert "medgemma-findings" in shown and "medgemma-answer-key" in shown


def test_an_edited_prompt_after_the_reveal_is_the_one_read(live_kernel_environment):
    path = notebooks.NOTEBOOKS_DIR / "02_suspected_pneumonia.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        for source in ("quiz.reveal('Right perihilar mass.')",
                       "findings = mh.run_case(case, model, prompt='Is there a mass? Answer briefly.')",
                       "print(json.dumps([quiz.findings.prompt, quiz.findings is findings]))"):
            cell = nbformat.v4.new_code_cell(("import json\n" if "json" in source else "") + source)
            notebook.cells.append(cell)
            client.execute_cell(cell, len(notebook.cells) - 1)
        printed = json.loads(_outputs_text(notebook.cells[-1]).strip().splitlines()[-1])
        assert printed == ["Is there a mass? Answer briefly.", True]


def test_nothing_is_hidden_outside_a_notebook(with_cases, tiny_model, capsys):
    assert not reveal.read_first_mode() and not os.environ.get(reveal.SHOW_ALL_ENV)
    findings = mh.run_case("01", tiny_model, max_new_tokens=6)
    assert findings.text and findings.text in capsys.readouterr().out  # streamed to the terminal at once
