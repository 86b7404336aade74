"""The case notebooks: one skeleton, committed clean, and every one runs top to bottom on the tiny stand-in."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import notebooks
from medgemma_helpers.render import markdown_to_safe_html
from conftest import PROJECT_ROOT, _generated_xray, shared_images_dir


def _committed() -> list[Path]:
    return notebooks.case_notebooks()


def test_one_notebook_per_case_with_the_shared_skeleton():
    paths = _committed()
    assert [path.name for path in paths] == [notebooks.notebook_name(case) for case in mh.list_cases()]
    for path in paths:
        assert notebooks.skeleton_problems(json.loads(path.read_text())) == [], path.name


def test_committed_notebooks_are_the_template_output():
    # The repository URL and the skeleton live in one place: the template. Regenerate with
    # `python -m medgemma_helpers make-notebooks` after changing it or a case file.
    for case in mh.list_cases():
        path = notebooks.NOTEBOOKS_DIR / notebooks.notebook_name(case)
        assert path.read_text() == notebooks.notebook_json(case), f"{path.name} is stale: run make-notebooks"
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
def notebook_environment(tiny_model_dir, tmp_path_factory) -> dict[str, str]:
    """Environment for running the notebooks: the tiny model, and real images or generated stand-ins."""
    environment = {"MEDGEMMA_MODEL_ID": str(tiny_model_dir)}
    real = shared_images_dir()
    if real is not None:
        environment["MEDGEMMA_IMAGE_MIRROR"] = str(real)
        return environment
    # A user's fresh clone has no mirror and no network in tests: point copies of the cases at generated images.
    folder = tmp_path_factory.mktemp("generated-cases")
    mirror = folder / "mirror"
    mirror.mkdir()
    for index, source in enumerate(sorted((PROJECT_ROOT / "cases").glob("*.yaml")), 1):
        data = yaml.safe_load(source.read_text())
        if data.get("image"):
            image_path = mirror / data["image"]["file"]
            _generated_xray(index, (256, 256)).save(image_path)
            data["image"]["sha256"] = hashlib.sha256(image_path.read_bytes()).hexdigest()
        (folder / source.name).write_text(yaml.safe_dump(data, sort_keys=False))
    environment.update(MEDGEMMA_IMAGE_MIRROR=str(mirror), MEDGEMMA_CASES_DIR=str(folder))
    return environment


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
    for result in results:
        executed = nbformat.read(result["executed"], as_version=4)
        case = mh.load_case(result["notebook"][:2])
        text = _all_text(executed)
        assert html.escape(case.history, quote=True) in text
        assert "not a diagnostic tool" in text
        pngs = [output for output in _outputs_of(executed) if "image/png" in output.get("data", {})]
        assert bool(pngs) == (case.image is not None), result["notebook"]
        # The answer the notebook streamed is the answer the helper gives for the same case.
        expected = mh.run_case(case, model, stream=False).text
        assert expected and markdown_to_safe_html(expected) in text, result["notebook"]
        assert result["executed"].with_suffix(".html").stat().st_size > 10_000
