"""Calibrated trust: read first, see the read shown unscored, keep or revise, then the key; the change (corrected,
misled, other, none) saved and reviewed only from decisions before the key; a teacher's round file, its read never
presented as MedGemma's; one request in every context; notebook 11 headless on the stand-in and from a class pack."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest
from conftest import PROJECT_ROOT

import medgemma_helpers as mh
from medgemma_helpers import class_reads, notebooks, quizzes, reveal, revisions, trust
from medgemma_helpers.case_view import answer_key_html
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
    monkeypatch.delenv(revisions.ROUND_ENV, raising=False)
    yield tmp_path / "reads"
    mh.use_round(None)


# What must not be on the page before the decision: the key, any score or verdict, and the disclosure.
KEY_OR_VERDICT = ("mh-concordance", "medgemma-answer-key", "mh-revision", "mh-planted-note", "Answer key", "✓", "✗",
                  "agrees", "disagree", "wrong side", "missed", "misled", "corrected", "edited", "teacher",
                  revisions.PLANTED_NAME, "Score")


def _headings(markup: str) -> list[str]:
    return re.findall(r"<h4>(.*?)</h4>", markup)


def test_stage_one_shows_the_read_shown_unscored_and_the_same_whoever_wrote_it(with_cases, tiny_model, reads_dir,
                                                                               capsys):
    planted = mh.quiz("03", tiny_model, shown_read=PLANTED)
    first_look = planted.reveal(HELD, alias="Ana")
    assert HELD in first_look and PLANTED_SENTENCE in first_look
    assert [word for word in KEY_OR_VERDICT if word in first_look] == []
    printed = capsys.readouterr().out
    assert PLANTED_SENTENCE in printed and [word for word in KEY_OR_VERDICT if word in printed] == []
    assert planted.session.committed and not planted.session.revealed and not planted.key_shown
    # MedGemma's own read looks the same at stage 1: the same headings, the same title
    own = mh.quiz("03", tiny_model, max_new_tokens=8)
    own_look = own.reveal(HELD)
    assert _headings(own_look) == _headings(first_look) == ["Your read", revisions.SHOWN_TITLE]
    assert [word for word in KEY_OR_VERDICT if word in own_look.replace(own.findings.text, "")] == []
    # the first read is saved, with no decision yet: nothing to count
    record = json.loads(next(reads_dir.iterdir()).read_text())
    assert record["read"] == HELD and record["decision"] is None and record["decided_before_key"] is False


def test_keeping_brings_the_key_every_read_scored_and_the_disclosure_naming_the_change(with_cases, tiny_model,
                                                                                        reads_dir):
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    quiz.reveal(HELD, alias="Ana")
    markup = quiz.keep()
    assert quiz.decision == "kept" and quiz.revised_read is None and quiz.key_shown and quiz.session.revealed
    case = mh.load_case("03")  # the key, drawn on the film with the resident's own read marked
    assert answer_key_html(case, mh.check_findings(HELD, case)) in markup
    assert "Your read vs the answer key" in markup and "edited by your teacher) vs the answer key" in markup
    assert {row.change for row in quiz.revision} == {""} and "no finding changed" in markup
    disclosure = markup[markup.index("mh-planted-note"):]
    assert markup.rstrip().endswith("</p>") and "What your teacher changed: pneumothorax" in html.unescape(disclosure)
    assert "catheter" not in disclosure  # only what the edited read gets wrong is named
    record = json.loads(next(reads_dir.iterdir()).read_text())
    assert record["decision"] == "kept" and record["decided_before_key"] is True and record["revised_read"] is None


def test_a_revision_towards_the_planted_side_is_misled_and_disclosed_with_the_key(with_cases, tiny_model, reads_dir,
                                                                                   capsys):
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    with pytest.raises(mh.InputError, match="Reveal first"):
        quiz.revise(ADDS_PNEUMOTHORAX)  # nothing to compare with yet
    quiz.reveal(HELD, alias="Ana")
    markup = quiz.revise(ADDS_PNEUMOTHORAX)
    assert quiz.read == HELD and quiz.revised_read == ADDS_PNEUMOTHORAX and quiz.decision == "revised"
    assert {row.first.finding: row.change for row in quiz.revision}["pneumothorax"] == "misled"
    assert "mh-change-misled" in markup and "Your revised read vs the answer key" in markup
    assert markup.index("mh-revision") < markup.index("mh-planted-note")  # the disclosure ends it
    out = capsys.readouterr().out
    assert "pneumothorax: ✓ agrees -> ✗ disagrees (misled)" in out
    assert "What your teacher changed: pneumothorax" in out.split("(misled)")[0]  # the text key ends with it too
    record = json.loads(next(reads_dir.iterdir()).read_text())
    assert record["read"] == HELD and record["revised_read"] == ADDS_PNEUMOTHORAX and record["planted"] is True
    assert record["decision"] == "revised" and record["decided_before_key"] is True
    assert {c["finding"]: c["change"] for c in record["changes"]}["pneumothorax"] == "misled"


def test_a_revision_after_the_key_is_refused_and_never_counted(with_cases, tiny_model, reads_dir):
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    quiz.reveal(HELD, alias="Ana")
    quiz.keep()
    saved = next(reads_dir.iterdir()).read_text()
    for late in (lambda: quiz.revise(ADDS_PNEUMOTHORAX), quiz.keep, lambda: quiz.reveal(NO_CATHETER)):
        with pytest.raises(mh.InputError, match="key is already shown"):
            late()
    assert quiz.revised_read is None and quiz.decision == "kept" and next(reads_dir.iterdir()).read_text() == saved
    # skipped: the key came with no decision, so a revision is after the key too
    skipped = mh.quiz("03", tiny_model, shown_read=PLANTED)
    assert "medgemma-answer-key" in skipped.skip() and skipped.decision is None
    with pytest.raises(mh.InputError, match="key is already shown"):
        skipped.revise(HELD)
    # a second first read, once the read shown is on screen, would be a revision in disguise
    again = mh.quiz("03", tiny_model, shown_read=PLANTED)
    again.reveal(HELD)
    with pytest.raises(mh.InputError, match="already committed"):
        again.reveal(ADDS_PNEUMOTHORAX)


def test_the_buttons_go_reveal_then_keep_or_revise_then_the_key(with_cases, tiny_model, reads_dir):
    quiz = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True, shown_read=PLANTED)
    assert quiz.revise_area not in quiz.widget.children
    quiz.textarea.value = NO_CATHETER
    quiz.button.click()
    assert quiz.revise_area in quiz.widget.children and quiz.revise_box.value == NO_CATHETER
    assert quiz.textarea.disabled and quiz.button.disabled and not quiz.keep_button.disabled
    assert [word for word in KEY_OR_VERDICT if word in quiz.result.value] == []
    quiz.revise_box.value = HELD
    quiz.revise_button.click()
    assert quiz.read == NO_CATHETER and quiz.revised_read == HELD
    assert quiz.revise_area not in quiz.widget.children
    assert "mh-change-corrected" in quiz.result.value and "medgemma-answer-key" in quiz.result.value
    assert quiz.result.value.endswith(revisions.planted_note_html(revisions.planted_changes(PLANTED,
                                                                                             mh.load_case("03"))))
    quiz.revise(ADDS_PNEUMOTHORAX)  # from code, after the key: refused where the resident looks
    assert "key is already shown" in quiz.result.value and quiz.revised_read == HELD
    # MedGemma's own read: titled as MedGemma's once the key is out, and no disclosure
    own = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True)
    own.textarea.value = HELD
    own.button.click()
    own.keep_button.click()
    assert "<h4>MedGemma</h4>" in own.result.value and "mh-planted-note" not in own.result.value
    skipped = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True)
    skipped.skip_button.click()  # no first read: nothing to decide, everything at once
    assert skipped.revise_area not in skipped.widget.children and "medgemma-answer-key" in skipped.result.value


def test_the_teachers_switch_and_the_headless_run_show_everything_at_once(with_cases, tiny_model, reads_dir,
                                                                          monkeypatch):
    shown = mh.quiz("03", tiny_model, shown_read=PLANTED, show_everything=True).reveal(HELD)
    assert "medgemma-answer-key" in shown and "mh-planted-note" in shown
    monkeypatch.setenv(reveal.SHOW_ALL_ENV, "1")
    headless = mh.quiz("03", tiny_model, shown_read=PLANTED)
    assert "medgemma-answer-key" in headless.reveal(HELD)
    with pytest.raises(mh.InputError, match="key is already shown"):
        headless.revise(ADDS_PNEUMOTHORAX)


def test_a_bad_alias_stops_the_reveal_before_the_commit_and_the_alias_is_fixed_at_the_commit(with_cases, tiny_model,
                                                                                             reads_dir):
    quiz = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True, shown_read=PLANTED)
    quiz.textarea.value = HELD
    quiz.alias_box.value = "A" * (class_reads.MAX_ALIAS_CHARACTERS + 1)
    quiz.button.click()
    # nothing committed: the resident reads why, shortens the alias and clicks Reveal again
    assert "keep it to 60 or fewer" in quiz.result.value and not quiz.session.committed
    assert not quiz.button.disabled and not quiz.textarea.disabled and not quiz.alias_box.disabled
    assert not reads_dir.exists()
    quiz.alias_box.value = "Ana"
    quiz.button.click()
    assert quiz.session.committed and quiz.revise_area in quiz.widget.children and quiz.alias_box.disabled
    quiz.alias_box.value = "B" * 80  # changed from code after the commit: the alias saved is the one committed
    quiz.keep_button.click()
    assert quiz.key_shown and "medgemma-answer-key" in quiz.result.value
    [saved] = reads_dir.iterdir()
    record = json.loads(saved.read_text())
    assert record["alias"] == "Ana" and record["decision"] == "kept" and record["decided_before_key"] is True


def test_a_read_that_cannot_be_written_is_said_and_the_quiz_goes_on(with_cases, tiny_model, reads_dir, monkeypatch,
                                                                    tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(class_reads.READS_DIR_ENV, str(blocker / "reads"))  # no folder can be made under a file
    quiz = quizzes.Quiz(mh.load_case("03"), tiny_model, max_new_tokens=8, use_widgets=True, shown_read=PLANTED)
    quiz.textarea.value, quiz.alias_box.value = HELD, "Ana"
    quiz.button.click()  # a button callback: a traceback here would be lost in the widget's log
    assert "Could not save your read as Ana" in quiz.result.value and PLANTED_SENTENCE in quiz.result.value
    assert quiz.revise_area in quiz.widget.children and not quiz.keep_button.disabled
    quiz.keep_button.click()
    assert "medgemma-answer-key" in quiz.result.value and "Could not save your read as Ana" in quiz.result.value
    from_code = mh.quiz("01", tiny_model, max_new_tokens=8)
    assert "Your read" in from_code.reveal(HELD, alias="Ana")
    assert "Could not save your read as Ana" in capsys.readouterr().out


def test_a_decision_after_the_key_is_never_saved_as_one_before_it(with_cases, tiny_model, reads_dir, capsys):
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    quiz.reveal(NO_CATHETER, alias="Ana")
    quiz.keep()
    honest = next(reads_dir.iterdir()).read_text()
    assert "again" not in quizzes.AFTER_KEY  # the refusal does not invite another go
    # the quiz cell run again once the key is out: a round to practise, never counted, the record before it stands
    again = mh.quiz("03", tiny_model, shown_read=PLANTED)
    assert quizzes.PRACTICE in capsys.readouterr().out and again.practice
    again.reveal(HELD, alias="Ana")
    again.revise(HELD)
    assert quizzes.PRACTICE in capsys.readouterr().out
    [saved] = reads_dir.iterdir()
    assert saved.read_text() == honest and json.loads(honest)["read"] == NO_CATHETER
    # skipping shows the key too: a read committed afterwards, under a new alias, is not saved either
    mh.quiz("01", tiny_model, max_new_tokens=8).skip()
    widget = quizzes.Quiz(mh.load_case("01"), tiny_model, max_new_tokens=8, use_widgets=True)
    assert quizzes.PRACTICE in html.unescape(widget.widget.children[0].value)
    widget.textarea.value, widget.alias_box.value = HELD, "Ben"
    widget.button.click()
    widget.keep_button.click()
    assert quizzes.PRACTICE in html.unescape(widget.result.value) and list(reads_dir.iterdir()) == [saved]
    # a fresh kernel has seen no key
    reveal.forget_sessions()
    assert not mh.quiz("01", tiny_model, max_new_tokens=8).practice


def test_the_answer_key_cell_marks_the_revised_read_as_the_quiz_does(with_cases, tiny_model, reads_dir, monkeypatch):
    case = mh.load_case("03")
    revised_key, first_key = (answer_key_html(case, mh.check_findings(read, case)) for read in (HELD, NO_CATHETER))
    assert revised_key != first_key  # the catheter is marked found in one and missed in the other
    quiz = mh.quiz("03", tiny_model, shown_read=PLANTED)
    quiz.reveal(NO_CATHETER)
    assert revised_key in quiz.revise(HELD)
    pages: list[str] = []
    monkeypatch.setattr(quizzes, "show_html", lambda markup, plain: pages.extend([markup, plain]))
    mh.show_answer_key("03")
    markup, plain = pages
    assert revised_key in markup and first_key not in markup
    assert "Your revised read vs the answer key" in markup and "Your revised read" in plain


def test_old_records_load_and_the_review_counts_only_decisions_before_the_key(tmp_path, monkeypatch):
    folder = tmp_path / "class"
    mh.save_read("03", HELD, "Ana", folder, model_read=PLANTED, revised_read=ADDS_PNEUMOTHORAX, planted=True,
                 decision="revised")
    mh.save_read("03", NO_CATHETER, "Ben", folder, model_read=PLANTED, revised_read=HELD, planted=True,
                 decision="revised")
    mh.save_read("03", HELD, "Cai", folder, model_read=PLANTED, planted=True, decision="kept")
    # revised with no decision before the key (as saved before deciding existed): kept, never counted
    mh.save_read("03", HELD, "Eve", folder, model_read=PLANTED, revised_read=ADDS_PNEUMOTHORAX, planted=True)
    old = mh.save_read("03", HELD, "Dee", folder)
    record = json.loads(old.read_text())
    for field in ("revised_read", "planted", "planted_read", "shown_findings", "changes", "decision",
                  "decided_before_key"):
        del record[field]  # as saved before revising existed
    old.write_text(json.dumps(record))
    with pytest.raises(mh.InputError, match="decision"):
        mh.save_read("03", HELD, "Fay", folder, revised_read=HELD, decision="kept")
    pages: list[str] = []
    monkeypatch.setattr(class_reads, "show_html", lambda markup, plain: pages.extend([markup, plain]))
    rows = mh.class_review(folder, aliases=True)
    by = {(r["resident"], r["finding"]): r for r in rows}
    assert by[("Ana", "pneumothorax")]["change"] == "misled" and by[("Ana", "pneumothorax")]["decision"] == "revised"
    assert by[("Ana", "pneumothorax")]["revised_outcome"] == "over-called"
    assert by[("Ben", "catheter")]["change"] == "corrected" and by[("Ben", "catheter")]["revised_status"] == "present"
    assert {r["change"] for r in rows if r["resident"] == "Cai"} == {""}
    assert {r["decision"] for r in rows if r["resident"] == "Cai"} == {"kept"}
    assert {(r["change"], r["decision"]) for r in rows if r["resident"] == "Eve"} == {("", "")}
    assert by[("Dee", "pneumothorax")]["revised_status"] == "" and by[("Dee", "pneumothorax")]["planted"] is False
    page, plain = pages[-2:]
    counts = ("3 of 5 residents decided before the key: 1 kept their read and 2 revised it; 1 were misled on at "
              "least one finding and 1 corrected at least one")
    assert counts in plain and counts in page  # the terminal's view says it too
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
    rows = mh.class_review(reads_dir, model=tiny_model, aliases=True)
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


# ---------------------------------------------------------------- a teacher's round file

ROUND = f"'03': |\n  {PLANTED}\n"


def test_a_round_file_drives_the_read_shown(with_cases, tiny_model, reads_dir, tmp_path, monkeypatch):
    round_file = tmp_path / "round.yaml"
    round_file.write_text(ROUND)
    assert mh.quiz("03", tiny_model).shown_read is None  # no round: MedGemma's own read
    monkeypatch.setenv(revisions.ROUND_ENV, str(round_file))
    quiz = mh.quiz("03", tiny_model)
    assert quiz.planted and PLANTED_SENTENCE in quiz.reveal(HELD)
    assert "mh-planted-note" in quiz.keep()
    assert mh.quiz("01", tiny_model).shown_read is None  # a case the round leaves out: MedGemma's own
    # mh.use_round, from the teacher's own code, takes precedence; None goes back to the environment's
    other = tmp_path / "other.yaml"
    other.write_text("acute-respiratory-distress: Small left pneumothorax.\n'01': A normal chest.\n")
    assert mh.use_round(other) == ("03", "01")
    assert mh.quiz("03", tiny_model).shown_read == "Small left pneumothorax."
    assert mh.quiz(1, tiny_model).shown_read == "A normal chest."
    mh.use_round(None)
    assert PLANTED_SENTENCE in mh.quiz("03", tiny_model).shown_read
    assert mh.quiz("03", tiny_model, shown_read=HELD).shown_read == HELD  # shown_read stays for code


@pytest.mark.parametrize(("text", "problem", "line"), [
    ("'03': |\n  Moderate right effusion.\n'01': a read: with a colon\n", "is not valid YAML", 3),
    ("'03': Moderate right effusion.\n'99': A read.\n", "names an unknown case '99'", 2),
    ("'01': A normal chest.\n'03':\n", "holds an empty read", 2),
    ("'03': '   '\n", "holds an empty read", 1),
    ("- a list, not a mapping\n", "holds no mapping of case ids to reads", 1),
])
def test_a_bad_round_file_names_the_file_and_line_and_nothing_is_saved(with_cases, tiny_model, reads_dir, tmp_path,
                                                                       monkeypatch, text, problem, line):
    round_file = tmp_path / "round.yaml"
    round_file.write_text(text)
    monkeypatch.setenv(revisions.ROUND_ENV, str(round_file))
    with pytest.raises(mh.InputError) as raised:
        mh.quiz("03", tiny_model).reveal(HELD, alias="Ana")
    message = str(raised.value)
    assert f"{round_file}, line {line} {problem}" in message and "Nothing was saved" in message
    assert "Moderate right effusion" not in message  # the error never quotes a read
    assert not reads_dir.exists()
    with pytest.raises(mh.InputError, match=re.escape(str(round_file))):
        mh.use_round(round_file)
    with pytest.raises(mh.InputError, match="cannot be read"):
        mh.use_round(tmp_path / "missing.yaml")


def test_the_residents_notebook_and_the_helper_hold_no_planted_read():
    notebook = nbformat.read(NOTEBOOK_11, as_version=4)
    source = "\n".join("".join(cell.source) for cell in notebook.cells)
    assert "shown_read" not in source and "PLANTED" not in source and "SHOWN_READ" not in source
    assert not hasattr(trust, "PLANTED_READ")
    assert "may have been edited by your teacher" in source and "formative, not an assessment" in source
    assert "alias" in source.split("## Look at the film")[0]  # the pre-brief comes first
    assert source.index("## Before you start") < source.index("quiz = mh.quiz(case, model)")


# ---------------------------------------------------------------- one request in every context; the literature


def test_the_three_contexts_end_in_one_request_and_only_the_history_differs(with_cases):
    case = mh.load_case(trust.TRUST_CASE)
    questions = dict(trust.context_questions(case))
    request = "Describe the findings, including any lines or devices, then give an impression."
    histories = {label: question.removeprefix("This is a PA chest X-ray.").removesuffix(request).strip()
                 for label, question in questions.items()}
    assert all(question.startswith("This is a PA chest X-ray.") and question.endswith(request)
               for question in questions.values())
    assert histories["with its history"] == " ".join(case.history.split())
    assert histories["without a history"] == ""
    assert "fever" in histories["with a misleading history"] and "Pneumonia?" in histories["with a misleading history"]
    # case 03 scores the pull of the misleading history: consolidation, absent and pertinent
    [consolidation] = [check for check in mh.check_findings("Right lower zone consolidation.", case)
                       if check.finding == "consolidation"]
    assert consolidation.scored and not consolidation.agrees and consolidation.expected == "absent"


def test_the_literature_is_stated_fairly():
    text = " ".join(figure + " " + source for figure, source in trust.LITERATURE)
    bernstein, dratsch, lim = (figure for figure, _ in trust.LITERATURE)
    assert "independent" not in text.replace("Not an independent", "")
    assert "Soombit.ai, the vendor of AIRead" in lim and "MedGemma" in lim
    assert "12" in bernstein and "worst of the three" in bernstein and "deleted" in bernstein and "box" in bernstein
    assert "82.3 % to 45.5 %" in dratsch and "very experienced" in dratsch
    page = (notebooks.NOTEBOOKS_DIR / "11_when_to_trust_medgemma.ipynb").read_text()
    assert "82.3 % to 45.5 %" in page and "Soombit.ai" in page


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
    assert "cough productive of green sputum. Pneumonia?" in text and "not a diagnostic tool" in text
    assert "Misled on pneumothorax" in text
    assert "8 of 8 residents decided before the key: 2 kept their read and 6 revised it" in text


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
    assert trust._DEMO_SHOWN_READ not in text and "edited by your teacher" not in text
    env.pop("MEDGEMMA_MODEL_ID")  # no model at all: the pack answers
    env["MEDGEMMA_PACK"] = str(pack)
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "notebooks", "--out", str(tmp_path / "run"),
                           "--only", "11"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = (tmp_path / "run" / "11_when_to_trust_medgemma.html").read_text()
    assert "mh-contexts" in page and "recorded on CPU on" in page
