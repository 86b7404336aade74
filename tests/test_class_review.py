"""The class review: saved reads, one file per alias and case, reviewed per case and finding from a folder,
a list of files or a zip, with every bad record skipped and named, and nothing a record says rendered as markup."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from html.parser import HTMLParser

import pytest

import medgemma_helpers as mh
from medgemma_helpers import class_reads as review

RIGHT_03 = ("Moderate right pleural effusion. No pneumothorax. No consolidation. A catheter projects over the right "
            "chest. Surgical clips in the right axilla.")
MISSED_03 = "Small right apical pneumothorax. No effusion."


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    """The review writes its private key file in the current folder: here, a scratch one."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shown(monkeypatch):
    """What class_review shows: the HTML it would display in a notebook."""
    pages: list[str] = []
    monkeypatch.setattr(review, "show_html", lambda markup, plain: pages.append(markup))
    return pages


def test_a_saved_read_holds_what_the_resident_typed_and_its_scores_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    path = mh.save_read("03", RIGHT_03, "  Ana   R. ", tmp_path, model_read="The model's read.")
    record = json.loads(path.read_text())
    assert path.parent == tmp_path and path.name.startswith("03_ana-r-")
    assert record["alias"] == "Ana R." and record["read"] == RIGHT_03 and record["case_id"] == "03"
    assert record["score"] == [5, 5]  # the non-pertinent oedema, unmentioned, is not scored
    assert {f["finding"]: f["verdict"] for f in record["findings"]} == {
        "pleural effusion": "right", "pneumothorax": "right", "catheter": "right", "surgical clips": "right",
        "consolidation": "right", "pulmonary oedema": "not scored"}
    assert record["model_read_sha256"] and "The model's read." not in path.read_text()
    assert record["project_version"] == mh.__version__
    assert "hf_" not in path.read_text()
    assert set(record) == {"format", "format_version", "case_id", "case_slug", "alias", "read", "findings", "score",
                           "model_read_sha256", "saved_at", "project_version", "revised_read", "planted",
                           "planted_read", "shown_findings", "changes", "decision", "decided_before_key"}
    assert record["planted_read"] is None and record["revised_read"] is None  # MedGemma's read: only its digest


def test_a_second_save_replaces_the_first_and_the_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(review.READS_DIR_ENV, str(tmp_path / "class"))
    first = mh.save_read("03", MISSED_03, "Ben")
    second = mh.save_read("03", RIGHT_03, "ben")  # the same person, typed differently
    assert first == second and first.parent == tmp_path / "class"
    assert [p.name for p in (tmp_path / "class").iterdir()] == [first.name]
    assert json.loads(first.read_text())["read"] == RIGHT_03
    with pytest.raises(mh.InputError, match="alias"):
        mh.save_read("03", RIGHT_03, "   ")


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "reads"
    mh.save_read("03", RIGHT_03, "Ana", folder)
    mh.save_read("03", MISSED_03, "Ben", folder)
    mh.save_read("03", "Possible right effusion.", "Cai", folder)
    return folder


def test_the_review_counts_each_finding_by_outcome_and_returns_plain_rows(class_folder, shown):
    rows = mh.class_review(class_folder, aliases=True)
    assert {(r["resident"], r["finding"]): r["outcome"] for r in rows} == {
        ("Ana", "pleural effusion"): "right", ("Ana", "pneumothorax"): "right", ("Ana", "catheter"): "right",
        ("Ana", "surgical clips"): "right", ("Ana", "consolidation"): "right",
        ("Ana", "pulmonary oedema"): "not scored",
        ("Ben", "pleural effusion"): "missed", ("Ben", "pneumothorax"): "over-called", ("Ben", "catheter"): "missed",
        ("Ben", "surgical clips"): "missed", ("Ben", "consolidation"): "negative not stated",
        ("Ben", "pulmonary oedema"): "not scored",
        ("Cai", "pleural effusion"): "hedged", ("Cai", "pneumothorax"): "negative not stated",
        ("Cai", "catheter"): "missed", ("Cai", "surgical clips"): "missed",
        ("Cai", "consolidation"): "negative not stated",
        ("Cai", "pulmonary oedema"): "not scored"}
    # plain data: straight into a CSV
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    assert out.getvalue().count("\n") == len(rows) + 1
    page = shown[0]
    assert "Case 03" in page and "3 residents" in page and "data:image/png;base64," in page
    # the discussion starts from the most-missed finding, quoting the sentence that decided it
    assert "Most missed: catheter" in page and "Most over-called: pneumothorax" in page
    assert "Small right apical pneumothorax." in page


def test_the_model_is_one_more_reader(class_folder, shown, with_cases, tiny_model):
    rows = mh.class_review(class_folder, model=tiny_model)
    assert not [r for r in mh.class_review(class_folder) if r["is_model"]]  # without model=, MedGemma is not asked
    model_rows = [r for r in rows if r["is_model"]]
    assert {r["resident"] for r in model_rows} == {review.MODEL_ROW} and len(model_rows) == 6
    assert "MedGemma" in shown[0]


def test_folder_list_and_zip_give_the_same_review(class_folder, tmp_path, shown):
    from_folder = mh.class_review(class_folder)
    from_list = mh.class_review(sorted(class_folder.iterdir()))
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in class_folder.iterdir():
            bundle.write(path, f"reads/{path.name}")
        bundle.writestr("__MACOSX/._junk.json", b"\x00\x01")
    from_zip = mh.class_review(archive)
    assert from_folder == from_list == from_zip and len(from_folder) == 18


def test_bad_records_are_skipped_one_line_each_naming_the_file(class_folder, shown, capsys):
    (class_folder / "broken.json").write_text("{not json")
    (class_folder / "other-set.json").write_text(json.dumps({
        "format": review.RECORD_FORMAT, "case_id": "03", "case_slug": "knee-fracture", "alias": "Dee",
        "read": "x", "saved_at": "2026-12-01T10:00:00+00:00"}))
    (class_folder / "no-read.json").write_text(json.dumps({
        "format": review.RECORD_FORMAT, "case_id": "03", "case_slug": "acute-respiratory-distress", "alias": "Eve",
        "saved_at": "2026-12-01T10:00:00+00:00"}))
    (class_folder / "unrelated.json").write_text(json.dumps({"hello": "world"}))
    rows = mh.class_review(class_folder, aliases=True)
    printed = capsys.readouterr().out.splitlines()
    assert any("broken.json: not valid JSON" in line for line in printed)
    assert any("other-set.json: from another case set" in line for line in printed)
    assert any("no-read.json: missing or malformed field: read" in line for line in printed)
    assert any("unrelated.json: not a saved read" in line for line in printed)
    assert {r["resident"] for r in rows} == {"Ana", "Ben", "Cai"}


def test_duplicate_submissions_keep_the_latest(tmp_path, shown, capsys):
    older, newer = tmp_path / "a.json", tmp_path / "b.json"
    mh.save_read("03", RIGHT_03, "Ana", tmp_path / "first")
    record = json.loads(next((tmp_path / "first").iterdir()).read_text())
    newer.write_text(json.dumps({**record, "read": MISSED_03, "saved_at": "2026-12-02T09:00:00+00:00"}))
    older.write_text(json.dumps({**record, "saved_at": "2026-12-01T09:00:00+00:00"}))
    rows = mh.class_review([newer, older], aliases=True)
    assert {r["finding"]: r["outcome"] for r in rows}["pneumothorax"] == "over-called"  # the later read
    assert "Kept the latest of two submissions by Ana" in capsys.readouterr().out


def test_an_empty_folder_gets_a_clear_message_not_an_empty_chart(tmp_path, shown):
    assert mh.class_review(tmp_path) == []
    assert "No saved reads to review" in shown[0] and "<img" not in shown[0]
    with pytest.raises(mh.InputError, match="does not exist"):
        mh.class_review(tmp_path / "missing")


def test_scores_come_from_the_current_checker_not_the_record(tmp_path, shown):
    path = mh.save_read("03", RIGHT_03, "Ana", tmp_path)
    record = json.loads(path.read_text())
    record["findings"] = [{**f, "verdict": "missed"} for f in record["findings"]]  # an older checker's verdicts
    record["score"] = [0, 5]
    path.write_text(json.dumps(record))
    rows = mh.class_review(tmp_path)
    assert {r["outcome"] for r in rows if r["finding"] != "pulmonary oedema"} == {"right"}


def test_aliases_and_reads_never_become_markup(tmp_path, shown):
    evil = "<img src=x onerror=alert(1)>$x^2$"
    mh.save_read("03", "<script>alert(1)</script> Small right pneumothorax.", evil, tmp_path)
    mh.class_review(tmp_path, aliases=True)  # the chart draws the alias with a "$" in it without error
    parser = _Tags()
    parser.feed(shown[0])
    assert "script" not in parser.tags and parser.tags.count("img") == 1  # only the chart
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown[0] and "&lt;script&gt;" in shown[0]


def test_the_quiz_saves_a_read_under_its_alias(with_cases, tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(review.READS_DIR_ENV, str(tmp_path))
    quiz = mh.quiz("03", tiny_model)
    quiz.reveal(RIGHT_03, alias="Fay")
    saved = list(tmp_path.iterdir())
    assert len(saved) == 1 and json.loads(saved[0].read_text())["alias"] == "Fay"
    assert json.loads(saved[0].read_text())["model_read_sha256"]
    assert "Saved your read as Fay" in capsys.readouterr().out
    mh.quiz("03", tiny_model).reveal(RIGHT_03)  # no alias: nothing saved
    assert len(list(tmp_path.iterdir())) == 1


def test_the_demo_class_is_a_dozen_invented_residents(tmp_path, shown):
    folder = review.write_demo_reads(tmp_path)
    rows = mh.class_review(folder)
    residents = {r["resident"] for r in rows}
    assert residents == {f"Resident {n}" for n in range(1, 13)}
    assert all(name.startswith("Invented resident") for _, name in _key(tmp_path / review.KEY_FILE))
    assert {r["case"] for r in rows} == {"01", "02", "03", "04", "05"}
    assert {r["outcome"] for r in rows} >= {"right", "missed", "over-called", "hedged"}


def _key(path):
    with open(path, newline="", encoding="utf-8") as table:
        return [(row["pseudonym"], row["alias"]) for row in csv.DictReader(table)]


def test_residents_are_pseudonyms_by_default_with_a_private_key_and_the_csv_follows(class_folder, tmp_path, shown,
                                                                                   capsys):
    (class_folder / "broken.json").write_text("{not json")
    rows = mh.class_review(class_folder)
    residents = {r["resident"] for r in rows}
    assert residents == {"Resident 1", "Resident 2", "Resident 3"}
    printed = capsys.readouterr().out
    for alias in ("Ana", "Ben", "Cai"):
        assert alias not in shown[0] and alias not in printed
    key_path = tmp_path / review.KEY_FILE
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"  # the teacher's eyes only
    key = _key(key_path)
    pairs = {(p, a) for p, a in key if p != "note"}
    assert {a for _, a in pairs} == {"Ana", "Ben", "Cai"} and {p for p, _ in pairs} == residents
    assert any(p == "note" and "broken.json" in a for p, a in key) and "broken.json" not in printed
    by_alias = {a: p for p, a in pairs}
    outcome_of = {(r["resident"], r["finding"]): r["outcome"] for r in rows}
    assert outcome_of[(by_alias["Ben"], "pneumothorax")] == "over-called"  # the key leads back to each read
    written = review.write_review_csv(rows, tmp_path / "class.csv")
    table = written.read_text(encoding="utf-8")
    assert "Resident 1" in table and not any(alias in table for alias in ("Ana", "Ben", "Cai"))
    shown_aliases = {r["resident"] for r in mh.class_review(class_folder, aliases=True)}
    assert shown_aliases == {"Ana", "Ben", "Cai"}


def test_the_same_reads_get_the_same_pseudonyms_in_an_order_that_is_not_the_aliases(class_folder, tmp_path,
                                                                                     shown):
    assert mh.class_review(class_folder) == mh.class_review(class_folder)
    key = dict(_key(tmp_path / review.KEY_FILE))
    assert key == {"Resident 1": "Ana", "Resident 2": "Cai", "Resident 3": "Ben"}  # by digest, not by name


def test_an_unstated_negative_is_its_own_outcome_and_never_most_missed(tmp_path, shown):
    folder = tmp_path / "reads"
    for alias in ("Ana", "Ben", "Cai"):  # a normal film read without its pertinent negatives
        mh.save_read("01", "Heart size is normal. The lungs are clear.", alias, folder)
    rows = mh.class_review(folder)
    outcomes = {r["finding"]: r["outcome"] for r in rows if r["resident"] == "Resident 1"}
    assert outcomes["pleural effusion"] == "negative not stated" and outcomes["cardiomegaly"] == "right"
    assert "Most missed" not in shown[0]
    assert "negative not stated" in shown[0]  # its own column in the table
    assert {r["score"] for r in rows} != {"2/2"}  # it still costs the score


def test_saving_the_csv_of_an_empty_review_says_why_and_writes_nothing(tmp_path, shown, capsys):
    rows = mh.class_review(tmp_path)
    assert review.write_review_csv(rows, tmp_path / "class.csv") is None
    assert "No rows to save" in capsys.readouterr().out and not (tmp_path / "class.csv").exists()
    assert not (tmp_path / review.KEY_FILE).exists()


def test_with_no_valid_read_the_notes_naming_residents_files_go_to_the_key_not_the_screen(tmp_path, shown, capsys):
    folder = tmp_path / "reads"
    folder.mkdir()
    (folder / "01_ana-1234abcd.json").write_text("{not json")
    assert mh.class_review(folder) == []
    printed = capsys.readouterr().out
    assert "01_ana-1234abcd" not in printed and "1 file was skipped" in printed
    assert [a for p, a in _key(tmp_path / review.KEY_FILE) if p == "note"] == [
        f"Skipped {folder / '01_ana-1234abcd.json'}: not valid JSON."]
    mh.class_review(folder, aliases=True)
    assert "01_ana-1234abcd.json: not valid JSON" in capsys.readouterr().out
