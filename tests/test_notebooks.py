"""The case notebooks: one skeleton, committed clean, and every one runs top to bottom on the tiny stand-in."""

from __future__ import annotations

import copy
import html
import json
from pathlib import Path

import nbformat
import pytest

import medgemma_helpers as mh
from medgemma_helpers import notebooks
from medgemma_helpers.render import markdown_to_safe_html


def _committed() -> list[Path]:
    return notebooks.case_notebooks()


def test_the_quick_start_one_notebook_per_case_the_skills_and_the_review_all_with_one_skeleton():
    paths = _committed()
    case_names = [notebooks.notebook_name(case) for case in mh.list_cases()]
    assert [path.name for path in paths][1:7] == case_names
    assert [path.name[:2] for path in paths] == [f"{number:02d}" for number in range(len(paths))]
    for path in paths:
        own = int(path.name[:2]) >= notebooks.FIRST_OWN_HEADINGS
        assert notebooks.skeleton_problems(json.loads(path.read_text()), own_headings=own) == [], path.name


def test_committed_notebooks_are_the_template_output():
    # The repository URL and the skeleton live in one place: the template. Regenerate with
    # `python -m medgemma_helpers make-notebooks` after changing it or a case file.
    made = notebooks.all_notebooks()
    assert sorted(made) == [path.name for path in _committed()]
    for name, notebook in made.items():
        path = notebooks.NOTEBOOKS_DIR / name
        assert path.read_text() == notebooks.notebook_text(notebook), f"{name} is stale: run make-notebooks"
        assert notebooks.REPO_URL in path.read_text()


def test_skeleton_check_catches_missing_sections_and_outputs():
    notebook = json.loads(_committed()[0].read_text())
    missing = copy.deepcopy(notebook)
    missing["cells"] = [cell for cell in missing["cells"] if "## Reveal the answer key" not in "".join(cell["source"])]
    assert any("sections" in problem for problem in notebooks.skeleton_problems(missing))
    with_outputs = copy.deepcopy(notebook)
    code = next(cell for cell in with_outputs["cells"] if cell["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]
    assert any("outputs" in problem for problem in notebooks.skeleton_problems(with_outputs))
    no_disclaimer = copy.deepcopy(notebook)
    for cell in no_disclaimer["cells"]:
        cell["source"] = "".join(cell["source"]).replace("not a diagnostic tool", "a tool")
    assert any("diagnostic" in problem for problem in notebooks.skeleton_problems(no_disclaimer))


@pytest.fixture(scope="module")
def notebook_environment(case_environment) -> dict[str, str]:
    """Environment for running the notebooks: the tiny model, and real images or generated stand-ins."""
    return case_environment


def _outputs_of(notebook) -> list[dict]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def _all_text(notebook) -> str:
    parts = []
    for output in _outputs_of(notebook):
        parts.append("".join(output.get("text", "")))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def test_every_notebook_runs_headless_and_shows_image_history_and_answer(notebook_environment, tiny_model_dir,
                                                                         tmp_path, monkeypatch):
    for name, value in notebook_environment.items():
        monkeypatch.setenv(name, value)
    model = mh.load_model(str(tiny_model_dir), device="cpu")
    results = notebooks.execute_notebooks(tmp_path, _committed(), timeout=600)
    assert [result["error"] for result in results] == [None] * len(results)
    by_number = {result["notebook"][:2]: result for result in results}
    for number in ("07", "08", "09"):  # the skills: CT montage, boxes drawn, pair shown
        executed = nbformat.read(by_number[number]["executed"], as_version=4)
        assert any("image/png" in output.get("data", {}) for output in _outputs_of(executed)), number
        assert "not a diagnostic tool" in _all_text(executed)
    review = _all_text(nbformat.read(by_number["10"]["executed"], as_version=4))
    assert "mh-class-review" in review and "data:image/png;base64," in review and "12 residents" in review
    assert "MedGemma (the model)" in review and "rows written to class_review.csv" in review
    quick_start = _all_text(nbformat.read(by_number["00"]["executed"], as_version=4))
    assert "Plain transformers and mh.analyze give the same answer: True" in quick_start
    for case in mh.list_cases():
        result = by_number[case.id]
        executed = nbformat.read(result["executed"], as_version=4)
        text = _all_text(executed)
        assert html.escape(case.history, quote=True) in text
        assert "not a diagnostic tool" in text
        pngs = [output for output in _outputs_of(executed) if "image/png" in output.get("data", {})]
        assert bool(pngs) == (case.image is not None), result["notebook"]
        # The answer the notebook streamed is the answer the helper gives for the same case.
        expected = mh.run_case(case, model, stream=False,
                               max_new_tokens=int(notebook_environment["MEDGEMMA_MAX_NEW_TOKENS"])).text
        assert expected and markdown_to_safe_html(expected) in text, result["notebook"]
        assert result["executed"].with_suffix(".html").stat().st_size > 10_000
