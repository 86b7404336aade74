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
        skill = path.name not in case_names
        assert notebooks.skeleton_problems(json.loads(path.read_text()), skill=skill) == [], path.name


def _headings(notebook: dict) -> list[str]:
    return [line[3:] for cell in notebook["cells"] if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines() if line.startswith("## ")]


def test_skill_notebooks_name_their_own_sections_and_the_check_refuses_case_headings():
    for path in _committed():
        notebook = json.loads(path.read_text())
        if path.name in {notebooks.notebook_name(case) for case in mh.list_cases()}:
            # A case notebook is not a skill notebook: its read-and-reveal headings are refused there.
            assert notebooks.skeleton_problems(notebook, skill=True), path.name
            continue
        headings = _headings(notebook)
        assert "Reveal the answer key" not in headings and "The case" not in headings, path.name
        assert tuple(headings[:4]) == notebooks.SKILL_TOP and headings[-1] == notebooks.SKILL_END
        renamed = copy.deepcopy(notebook)
        for cell in renamed["cells"]:
            cell["source"] = "".join(cell["source"]).replace(f"## {headings[-2]}", "## Reveal the answer key")
        assert any("sections" in problem for problem in notebooks.skeleton_problems(renamed, skill=True))


def _code_index(notebook: dict) -> int:
    return next(index for index, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code")


def _markdown_before_code(notebook: dict) -> str:
    return "".join("".join(cell["source"]) for cell in notebook["cells"][:_code_index(notebook)])


def test_a_case_notebook_shows_history_film_and_question_before_any_code():
    for case in mh.list_cases():
        notebook = notebooks.build_notebook(case)
        before = _markdown_before_code(notebook)
        assert _headings(notebook)[0] == "The case"
        for text in (case.history, case.question):
            assert notebooks._markdown_text(text) in before, case.id
        if case.image is not None:
            # The film itself, through its pinned address, with its attribution beside it.
            assert f"\n![Case {case.id}: " in before and f"]({case.image.url})" in before, case.id
            assert notebooks._markdown_text(case.image.attribution) in before, case.id
        else:
            assert "No openly licensed image" in before and "\n![" not in before
        setup = notebook["cells"][_code_index(notebook)]
        assert "".join(setup["source"]).startswith("# @title Setup") and setup["metadata"]["cellView"] == "form"
        assert "padded to a centred square" not in before and "greedy" not in json.dumps(notebook)


def _text_after_reveal(notebook: dict) -> tuple[str, str]:
    text = "".join("".join(cell["source"]) for cell in notebook["cells"])
    before, _, after = text.partition("## Reveal the answer key")
    return before, after


def test_only_the_generic_checklist_comes_before_the_read_and_blind_holds_the_differential_back():
    case = mh.load_case("02")
    pointer = notebooks._markdown_text("Hila: size, density and contour of each hilum; lobulation suggesting nodes")
    differential = notebooks._markdown_text(case.differential[2])
    before, after = _text_after_reveal(notebooks.build_notebook(case, blind=False))
    assert pointer not in before and pointer in after
    assert notebooks._markdown_text(mh.case_view.CHEST_CHECKLIST[0]) in before
    assert differential in before and differential not in after  # --no-blind: the differential up front
    assert _text_after_reveal(notebooks.build_notebook(case)) == _text_after_reveal(
        notebooks.build_notebook(case, blind=True))  # the default: the differential waits for the read
    before, after = _text_after_reveal(notebooks.build_notebook(case, blind=True))
    assert differential not in before and differential in after and pointer in after
    assert "Weigh the differential" not in before
    assert "mh.show_case(case, blind=True)" in before
    # ... and the card that cell shows holds it back too, listing the generic checklist, not this film's pointers.
    from medgemma_helpers.case_view import CaseView, case_text

    assert case.differential[2] in case_text(case) and case.differential[2] not in case_text(case, blind=True)
    card = CaseView(case, None, blind=True)._repr_html_()
    assert html.escape(case.differential[2]) not in card and html.escape(mh.case_view.CHEST_CHECKLIST[3]) in card
    assert "lobulation suggesting nodes" not in card
    assert html.escape(case.differential[2]) in CaseView(case, None)._repr_html_()


def test_blind_set_in_the_template_is_the_default_layout(tmp_path, monkeypatch):
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(notebooks.TEMPLATES_DIR, templates)
    source = (templates / "case.md").read_text()
    assert "{% set BLIND = True %}" in source  # as shipped: the differential waits for the read
    monkeypatch.setattr(notebooks, "TEMPLATES_DIR", templates)
    case = mh.load_case("03")
    before, after = _text_after_reveal(notebooks.build_notebook(case))
    assert notebooks._markdown_text(case.differential[0]) in after and "Weigh the differential" not in before
    before, _ = _text_after_reveal(notebooks.build_notebook(case, blind=False))  # an explicit choice wins
    assert notebooks._markdown_text(case.differential[0]) in before
    (templates / "case.md").write_text(source.replace("{% set BLIND = True %}", "{% set BLIND = False %}"))
    before, _ = _text_after_reveal(notebooks.build_notebook(case))  # a teacher's own template setting
    assert notebooks._markdown_text(case.differential[0]) in before


def test_the_teaching_layer_follows_the_reveal_and_replaces_the_generic_questions():
    for case in mh.list_cases():
        before, after = _text_after_reveal(notebooks.build_notebook(case))
        assert case.model_report and case.objectives and len(case.discussion_questions) in (2, 3)
        for text in (case.model_report.impression, case.objectives[0], *case.discussion_questions):
            assert notebooks._markdown_text(text) not in before and notebooks._markdown_text(text) in after, case.id
        for reference in case.references:
            assert f"]({reference.url})" in after
        assert "one image at a time" not in after and "which findings did you" not in after.lower(), case.id
        assert f"level: {case.difficulty}" in before


def test_one_disclaimer_at_the_top_and_one_in_the_discussion():
    for path in _committed():
        notebook = json.loads(path.read_text())
        holding = [index for index, cell in enumerate(notebook["cells"])
                   if "not a diagnostic tool" in "".join(cell["source"])]
        assert len(holding) == 2 and holding[0] == 0, path.name
        assert "## Discussion and limitations" in "".join(notebook["cells"][holding[1]]["source"]), path.name
    review = (notebooks.NOTEBOOKS_DIR / "10_class_review.ipynb").read_text()
    assert "formative" in review and "not an assessment" in review


def test_example_reads_do_not_give_the_answer_away():
    findings = ("nodule", "effusion", "sternotomy", "wires", "catheter", "normal", "right", "left", "mass")
    examples = {}
    for name in notebooks.OTHER_NOTEBOOKS:
        notebook = json.loads((notebooks.NOTEBOOKS_DIR / name).read_text())
        examples[name] = [text for text in ("".join(cell["source"]) for cell in notebook["cells"])
                          if text.startswith("my_read = ")]
        for example in examples[name]:
            assert not [word for word in findings if word in example.lower()], name
    assert len([name for name, found in examples.items() if found]) >= 5  # the skill notebooks that show one


def test_notebook_09_opens_with_one_patients_real_films_and_keeps_the_other_pair_as_an_exercise():
    films = mh.series_films()
    assert len({film.patient for film in films}) == 1 and [film.follow_up for film in films] == [0, 1, 2]
    assert "sternotomy" in films[2].shows and "sternotomy" not in films[1].shows
    text = (notebooks.NOTEBOOKS_DIR / "09_longitudinal_comparison.ipynb").read_text()
    assert films[1].image.url in text and films[2].image.url in text
    assert "same patient?" in text and "No openly licensed" not in text and "different patients" not in text


def test_make_notebooks_repo_url_rewrites_badges_and_setup_for_a_fork(tmp_path, monkeypatch):
    from medgemma_helpers import cli

    recorded = tmp_path / "repository.txt"
    recorded.write_text(notebooks.REPO_URL + "\n")
    monkeypatch.setattr(notebooks, "REPO_URL_FILE", recorded)
    fork = "https://github.com/a-teacher/medgemma-fork"
    assert cli.main(["make-notebooks", "--out", str(tmp_path / "out"), "--repo-url", fork + ".git"]) == 0
    assert recorded.read_text().strip() == fork
    for path in (tmp_path / "out").glob("*.ipynb"):
        text = path.read_text()
        assert notebooks.REPO_URL not in text, path.name
        assert f"colab.research.google.com/github/a-teacher/medgemma-fork/blob/main/notebooks/{path.name}" in text
        assert f'REPO_URL, CLONE = \\"{fork}\\"' in text, path.name
    with pytest.raises(mh.InputError, match="GitHub"):
        notebooks.checked_repo_url("https://gitlab.com/a-teacher/fork")
    assert cli.main(["make-notebooks", "--out", str(tmp_path / "bad"), "--repo-url", "not a url"]) == 2
    assert recorded.read_text().strip() == fork  # a refused address changes nothing


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
    assert "MedGemma (the model)" not in review and "rows written to class_review.csv" in review  # re-reads opt-in
    assert "Resident 1" in review and "Invented resident" not in review  # pseudonyms by default, on a projector
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


def test_make_notebooks_no_blind_gives_the_walkthroughs_order(tmp_path):
    from medgemma_helpers import cli

    case = mh.load_case("02")
    differential = notebooks._markdown_text(case.differential[2])
    name = notebooks.notebook_name(case)
    for flags, up_front in (([], False), (["--blind"], False), (["--no-blind"], True)):
        out = tmp_path / ("default" if not flags else flags[0].strip("-"))
        assert cli.main(["make-notebooks", "--out", str(out), *flags]) == 0
        before, after = _text_after_reveal(json.loads((out / name).read_text()))
        assert (differential in before) is up_front and (differential in after) is not up_front, flags
