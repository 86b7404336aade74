"""Calibrated trust: a read revised after the reveal (corrected, misled, other, none), saved and reviewed; a teacher's
planted read never presented as MedGemma's; notebook 11 headless on the stand-in and from a class pack."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import subprocess
import sys

import nbformat
import pytest
from conftest import PROJECT_ROOT

import medgemma_helpers as mh
from medgemma_helpers import class_reads, notebooks, quizzes, revisions, trust
from medgemma_helpers.concordance import FindingCheck

# Our own demo reads of case 03 (a moderate right effusion, a catheter, no pneumothorax), with known changes.
HELD = "Moderate right pleural effusion with a meniscus. No pneumothorax. A catheter projects over the right chest."
ADDS_PNEUMOTHORAX = ("Moderate right pleural effusion with a meniscus. Small right apical pneumothorax. A catheter "
                     "projects over the right chest.")
NO_CATHETER = "Moderate right pleural effusion with a meniscus. No pneumothorax."
HEDGES_PNEUMOTHORAX = ("Moderate right pleural effusion with a meniscus. A pneumothorax cannot be excluded. A catheter "
                       "projects over the right chest.")
# A teacher's planted read: the film's findings, and one invented (a pneumothorax).
PLANTED = ("Moderate right pleural effusion. A catheter projects over the right chest. Small right apical pneumothorax "
           "seen along the visceral pleural line.")
PLANTED_SENTENCE = "Small right apical pneumothorax seen along the visceral pleural line."


def _changes(first: str, revised: str, shown: str | None = PLANTED) -> dict[str, str]:
    case = mh.load_case("03")
    paired = revisions.revisions(mh.check_findings(first, case), mh.check_findings(revised, case),
                                 mh.check_findings(shown, case) if shown else None)
    return {row.first.finding: row.change for row in paired}


def test_change_is_misled_corrected_other_or_none_per_finding():
    # Right before, wrong after, towards the read shown: misled; wrong before, right after: corrected.
    assert _changes(HELD, ADDS_PNEUMOTHORAX)["pneumothorax"] == "misled"
    assert _changes(NO_CATHETER, HELD)["catheter"] == "corrected"
    assert set(_changes(HELD, HELD).values()) == {""}  # an unchanged read changes nothing
    # A new hedge on a finding the read shown called the other way is a pull towards it.
    assert _changes(HELD, HEDGES_PNEUMOTHORAX)["pneumothorax"] == "misled"
    # Right to wrong where the read shown did not point that way: another change, not misled.
    assert _changes(HELD, NO_CATHETER, shown=HELD)["catheter"] == "other"
    assert _changes(HELD, ADDS_PNEUMOTHORAX, shown=None)["pneumothorax"] == "other"
    # the other findings, untouched, stay unchanged
    assert _changes(HELD, ADDS_PNEUMOTHORAX)["pleural effusion"] == ""


def test_a_side_moved_to_where_the_read_shown_put_it_is_misled():
    right = FindingCheck("pleural effusion", "present", expected="present", side="right", key_side="right")
    left = FindingCheck("pleural effusion", "present", expected="present", side="left", key_side="right")
    assert revisions.change(right, left, left) == "misled"  # a wrong side never agrees
    assert revisions.change(left, right, left) == "corrected"
    assert revisions.change(right, left, right) == "other"
    assert revisions.change(right, None, left) == ""


@pytest.fixture
def reads_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(class_reads.READS_DIR_ENV, str(tmp_path / "reads"))
    return tmp_path / "reads"


def test_revise_keeps_the_first_read_and_tables_the_change(with_cases, tiny_model, reads_dir, capsys):
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    with pytest.raises(mh.InputError, match="Reveal first"):
        quiz.revise(ADDS_PNEUMOTHORAX)  # nothing to compare with yet
    quiz.reveal(HELD, alias="Ana")
    markup = quiz.revise(ADDS_PNEUMOTHORAX)
    assert quiz.read == HELD and quiz.revised_read == ADDS_PNEUMOTHORAX
    assert {row.first.finding: row.change for row in quiz.revision}["pneumothorax"] == "misled"
    assert "mh-change-misled" in markup and markup.rstrip().endswith("</p>")
    assert markup.index("mh-revision") < markup.index("mh-planted-note")  # the disclosure ends it
    out = capsys.readouterr().out
    assert "pneumothorax: ✓ agrees -> ✗ disagrees (misled)" in out
    assert out.rstrip().endswith(revisions.PLANTED_NOTE)
    record = json.loads(next(reads_dir.iterdir()).read_text())
    assert record["read"] == HELD and record["revised_read"] == ADDS_PNEUMOTHORAX and record["planted"] is True
    assert {c["finding"]: c["change"] for c in record["changes"]}["pneumothorax"] == "misled"


def test_the_revise_button_shows_after_the_reveal_and_fills_the_table(with_cases, tiny_model, reads_dir):
    quiz = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True, shown_read=PLANTED)
    assert quiz.revise_area not in quiz.widget.children
    quiz.textarea.value = NO_CATHETER
    quiz.button.click()
    assert quiz.revise_area in quiz.widget.children and quiz.revise_box.value == NO_CATHETER
    quiz.revise_box.value = HELD
    quiz.revise_button.click()
    assert quiz.read == NO_CATHETER and quiz.revised_read == HELD
    assert "mh-change-corrected" in quiz.result.value and quiz.result.value.endswith(revisions.planted_note_html())
    # MedGemma's own read (no plant): titled as MedGemma's and no disclosure
    own = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True)
    own.skip_button.click()  # skipped: no first read, so nothing to revise
    assert own.revise_area not in own.widget.children and "mh-planted-note" not in own.result.value


def test_old_records_load_and_the_review_counts_misled_and_corrected_with_quotes(tmp_path, monkeypatch):
    folder = tmp_path / "class"
    mh.save_read("03", HELD, "Ana", folder, model_read=PLANTED, revised_read=ADDS_PNEUMOTHORAX, planted=True)
    mh.save_read("03", NO_CATHETER, "Ben", folder, model_read=PLANTED, revised_read=HELD, planted=True)
    mh.save_read("03", HELD, "Cai", folder, model_read=PLANTED, revised_read=HELD, planted=True)
    old = mh.save_read("03", HELD, "Dee", folder)
    record = json.loads(old.read_text())
    for field in ("revised_read", "planted", "planted_read", "shown_findings", "changes"):
        del record[field]  # as saved before revising existed
    old.write_text(json.dumps(record))
    pages: list[str] = []
    monkeypatch.setattr(class_reads, "show_html", lambda markup, plain: pages.extend([markup, plain]))
    rows = mh.class_review(folder)
    by = {(r["resident"], r["finding"]): r for r in rows}
    assert by[("Ana", "pneumothorax")]["change"] == "misled"
    assert by[("Ana", "pneumothorax")]["revised_outcome"] == "over-called"
    assert by[("Ben", "catheter")]["change"] == "corrected" and by[("Ben", "catheter")]["revised_status"] == "present"
    assert {r["change"] for r in rows if r["resident"] == "Cai"} == {""}
    assert by[("Dee", "pneumothorax")]["revised_status"] == "" and by[("Dee", "pneumothorax")]["planted"] is False
    page, plain = pages[-2:]
    assert "2 of 4 residents changed their read after the reveal" in plain  # the terminal's view says it too
    assert "2 of 4 residents changed their read after the reveal; 1 were misled on at least one finding and 1 " \
           "corrected" in page
    assert "Misled on pneumothorax" in page and "Small right apical pneumothorax." in page
    assert page.index("mh-class-revisions") < page.index("mh-class-case")  # the class first, then each case


def test_a_planted_read_is_never_medgemmas_in_saved_files_handouts_csv_summary_or_pack(
        with_cases, tiny_model, reads_dir, tmp_path, monkeypatch):
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    quiz.reveal(HELD, alias="Ana")
    quiz.revise(ADDS_PNEUMOTHORAX)
    # saved file: the teacher's text under planted_read, never as MedGemma's digest
    record = json.loads(next(reads_dir.iterdir()).read_text())
    assert record["planted"] is True and record["planted_read"] == PLANTED and record["model_read_sha256"] is None
    # handout: the read is titled as the teacher's and ends with the disclosure
    assert quiz.findings.planted and quiz.findings.model_name == revisions.PLANTED_NAME
    page = mh.export_handout("03", quiz.findings, tmp_path / "handout.html", resident_read=quiz.read).read_text()
    assert PLANTED_SENTENCE in page and "edited by your teacher" in page and "mh-planted-note" in page
    assert ">MedGemma<" not in page and "MedGemma vs the answer key" not in page and "<b>Prompt.</b>" not in page
    shown_alone = quiz.findings._repr_html_()  # the read displayed on its own in a cell
    assert html.escape("MedGemma's findings") not in shown_alone
    assert f"<h4>{html.escape(revisions.PLANTED_NAME)}</h4>" in shown_alone
    # the CSV of the class review with MedGemma as one more reader: its rows hold MedGemma's own read only
    monkeypatch.setattr(class_reads, "show_html", lambda markup, plain: None)
    rows = mh.class_review(reads_dir, model=tiny_model)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    model_rows = [r for r in csv.DictReader(io.StringIO(table.getvalue())) if r["is_model"] == "True"]
    assert model_rows and not any(PLANTED_SENTENCE in r["evidence"] for r in model_rows)
    assert all(r["planted"] == "True" for r in csv.DictReader(io.StringIO(table.getvalue())) if r["resident"] == "Ana")
    # the all-cases summary asks the model itself
    results = mh.run_all_cases(tiny_model, [mh.load_case("03")], max_new_tokens=8, handouts=tmp_path / "handouts")
    written = mh.write_summary(results, tmp_path / "summary")
    for path in [*written, *(tmp_path / "handouts").iterdir()]:
        assert PLANTED_SENTENCE not in path.read_text(errors="replace"), path.name


def _notebook_outputs(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts += ["".join(v) if isinstance(v, list) else str(v) for k, v in output.get("data", {}).items()
                      if k.startswith("text/")]
    return "\n".join(parts)


NOTEBOOK_11 = notebooks.NOTEBOOKS_DIR / "11_when_to_trust_medgemma.ipynb"


def test_notebook_11_runs_headless_on_the_stand_in(case_environment, tmp_path, monkeypatch):
    for name, value in case_environment.items():
        monkeypatch.setenv(name, value)
    [result] = notebooks.execute_notebooks(tmp_path, [NOTEBOOK_11], timeout=600)
    assert result["error"] is None
    text = _notebook_outputs(result["executed"])
    assert "mh-contexts" in text and text.count("Question sent.") == 3
    for label, _ in trust.CONTEXTS:
        assert f"MedGemma {label} vs the answer key" in text
    assert "Fever and productive cough: pneumonia?" in text and "not a diagnostic tool" in text
    assert "Misled on pneumothorax" in text and "6 of 8 residents changed their read after the reveal" in text


def test_notebook_11_runs_from_a_class_pack_that_holds_no_planted_read(case_environment, tmp_path):
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("MEDGEMMA_", "HF_TOKEN", "HUGGING_FACE"))}
    env.update(case_environment, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MEDGEMMA_PACK_PACE="0")
    pack = tmp_path / "class.pack"
    recorded = subprocess.run([sys.executable, "-m", "medgemma_helpers", "pack", "--out", str(pack)],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert recorded.returncode == 0, recorded.stdout[-2000:] + recorded.stderr[-2000:]
    text = pack.read_text()
    entries = json.loads(text)["entries"]
    assert {"notebook 11: one film, three contexts", "case 03: its question"} <= {e["label"] for e in entries}
    assert trust.PLANTED_READ not in text and "edited by your teacher" not in text
    env.pop("MEDGEMMA_MODEL_ID")  # no model at all: the pack answers
    env["MEDGEMMA_PACK"] = str(pack)
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "notebooks", "--out", str(tmp_path / "run"),
                           "--only", "11"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = (tmp_path / "run" / "11_when_to_trust_medgemma.html").read_text()
    assert "mh-contexts" in page and "recorded on CPU on" in page
