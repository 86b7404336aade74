"""Feedback a radiologist would give: a wrong side never agrees on any surface, flags that still agree, the kinds
of error under each table, the pertinent negatives a read leaves unstated, and an impression against its findings.

What the user sees is asserted: the HTML and text of the tables, the handout, the summary, the class review and
its rows, the saved record, the terminal output.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import class_reads, concordance, impressions, quizzes, reveal, summary
from medgemma_helpers.cases import ReferenceFinding
from medgemma_helpers.concordance import (
    ErrorTally,
    FindingCheck,
    concordance_lines,
    concordance_score,
    concordance_table_html,
    error_kind,
    error_tally,
    unstated_negatives,
    verdict,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WRONG = "✗ wrong side: read left, key right"


def effusion(side: str = "left", size: str = "large", status: str = "present", **key: str) -> FindingCheck:
    """A pleural effusion the key has on the right, moderate, read as given."""
    attributes = {"key_side": "right", "key_size": "moderate", **key}
    return FindingCheck("pleural effusion", status, "present", f"{size.capitalize()} {side} effusion.", side=side,
                        size=size, **attributes)


class _Rows(HTMLParser):
    """The class of every table row, and every tag."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append(dict(attrs).get("class", ""))


def _parsed(page: str) -> _Rows:
    parser = _Rows()
    parser.feed(page)
    return parser


# ---------------------------------------------------------------- the verdict and the table, from checks


def test_a_wrong_side_has_its_own_words_and_colour_and_never_scores():
    checks = [effusion(), FindingCheck("pneumothorax", "absent", "absent", "No pneumothorax.")]
    page = concordance_table_html(checks, "Your read vs the answer key")
    assert verdict(checks[0]) == ("wrong_side", WRONG)
    assert WRONG in page and "#e8c6f0" in page and "#5a1470" in page  # its own colour, not the red of "disagrees"
    assert _parsed(page).rows == ["", "mh-wrong_side", "mh-agree"]
    assert concordance_score(checks) == (1, 2) and "Score: 1 / 2" in page
    # what each side says, side by side
    row = re.findall(r"<td[^>]*>(.*?)</td>", page.split('class="mh-wrong_side"')[1].split("</tr>")[0])
    assert row[:4] == ["pleural effusion", "present · right · moderate", "present · left · large", WRONG]


@pytest.mark.parametrize(("read", "key", "label"), [
    ("bilateral", "right", "✗ wrong side: read bilateral, key right"),  # both sides for a one-sided key
    ("left", "bilateral", "✗ wrong side: read left, key bilateral"),  # one side for a bilateral key
])
def test_both_sides_for_one_and_one_side_for_both_are_wrong_sides(read, key, label):
    check = effusion(read, key_side=key)
    assert verdict(check) == ("wrong_side", label) and not check.agrees
    assert concordance_score([check]) == (0, 1)


def test_a_hedged_read_on_the_wrong_side_is_still_a_wrong_side():
    check = effusion(status="uncertain", subtle=True)  # a hedge the key would accept, but on the other side
    assert verdict(check)[0] == "wrong_side" and error_kind(check) == "wrong side"


@pytest.mark.parametrize(("check", "label"), [
    (effusion("right", "large"), "✓ agrees · key moderate, read large"),
    (effusion("", "moderate"), "✓ agrees · side not stated"),
    (replace(effusion("right", "moderate", key_site="lower zone"), site="apex"),
     "✓ agrees · key lower zone, read apex"),
    (effusion("right", "small", status="uncertain", subtle=True), "✓ hedged, accepted · key moderate, read small"),
    (effusion("", "", status="uncertain"), "? uncertain · side not stated"),
])
def test_flags_that_still_agree_are_shown_beside_the_verdict(check, label):
    assert verdict(check)[1] == label
    assert label in concordance_table_html([check])
    assert check.agrees == label.startswith("✓")


# ---------------------------------------------------------------- the kinds of error under each table


def test_each_kind_of_error_is_counted_once_and_they_add_up_to_what_does_not_agree():
    checks = [
        effusion(),  # wrong side
        effusion("right", "small"),  # agrees, size differs
        FindingCheck("consolidation", "absent", "present", "No consolidation."),  # missed: denied
        FindingCheck("mass", "not_mentioned", "present"),  # missed: never named
        FindingCheck("pneumothorax", "not_mentioned", "absent"),  # missed: a pertinent negative left out
        FindingCheck("cardiomegaly", "present", "absent", "The heart is enlarged."),  # invented
        FindingCheck("oedema", "uncertain", "present", "Possible oedema."),  # hedged
        FindingCheck("nodule", "uncertain", "present", "Possible nodule.", subtle=True),  # a hedge accepted: agrees
        FindingCheck("rib fracture", "not_mentioned", "absent", pertinent=False),  # not scored
        FindingCheck("fracture", "present", "absent", "A rib fracture.", pertinent=False),  # invented all the same
    ]
    assert [error_kind(c) for c in checks] == ["wrong side", "", "missed", "missed", "missed", "invented", "hedged",
                                               "", "", "invented"]
    tally = error_tally(checks)
    assert tally == ErrorTally(missed=3, invented=2, wrong_side=1, size_or_site=1, hedged=1)
    agreeing, total = concordance_score(checks)
    assert tally.missed + tally.invented + tally.wrong_side + tally.hedged == total - agreeing
    line = "Kinds of error: missed 3 · invented 2 · wrong side 1 · size or site differs 1 · hedged 1"
    assert tally.line() == line
    assert f'<p class="mh-tally" style="margin:0.4em 0">{line}</p>' in concordance_table_html(checks)
    assert f"  {line}" in concordance_lines(checks, "Your read")


def test_a_side_left_out_is_a_flag_not_a_size_or_site_difference():
    assert error_tally([effusion("", "moderate")]) == ErrorTally()


def test_a_normal_chest_radiograph_is_told_which_pertinent_negatives_it_did_not_state():
    case = mh.load_case("01")  # every finding absent, every one a pertinent negative
    checks = mh.check_findings("Normal chest radiograph.", case)
    negatives = [f.name for f in case.answer_key.findings if f.expected == "absent" and f.pertinent]
    assert len(negatives) >= 4 and unstated_negatives(checks) == negatives
    line = f"Pertinent negatives not stated: {'; '.join(negatives)}."
    page = concordance_table_html(checks, "Your read vs the answer key")
    assert f'<p class="mh-unstated" style="margin:0.4em 0;color:#7a5b00">{line}' in page.replace("&quot;", '"')
    assert f"  {line} State each one (\"no {negatives[0]}\")" in "\n".join(concordance_lines(checks))
    # a read that states them all is told nothing; one it states is no longer listed
    stated = "No consolidation, effusion or pneumothorax. Normal heart size. No nodule or mass. Normal mediastinum."
    assert "mh-unstated" not in concordance_table_html(mh.check_findings(stated, case))
    assert "pneumothorax" not in unstated_negatives(mh.check_findings("Normal film. No pneumothorax.", case))


def test_an_unstated_non_pertinent_negative_is_not_asked_for():
    checks = [FindingCheck("rib fracture", "not_mentioned", "absent", pertinent=False)]
    assert unstated_negatives(checks) == [] and "mh-unstated" not in concordance_table_html(checks)


def test_names_and_evidence_under_the_table_are_escaped():
    checks = [FindingCheck("<img src=x onerror=alert(1)>", "not_mentioned", "absent"),
              replace(effusion(), evidence="<script>alert(1)</script>")]
    page = concordance_table_html(checks, "t")
    assert not {"script", "img"} & set(_parsed(page).tags)
    assert "Pertinent negatives not stated: &lt;img src=x onerror=alert(1)&gt;." in page


# ---------------------------------------------------------------- every surface, through the real code path


def _reads_sides() -> bool:
    key = [ReferenceFinding("pleural effusion", ("effusion",), "present", side="right")]
    return concordance.check_findings("Large left pleural effusion.", key)[0].side == "left"


_SIDE_WORD = re.compile(r"\b(right|left|bilateral)\b", re.IGNORECASE)


@pytest.fixture
def side_reading(monkeypatch):
    """check_findings that reads sides, in every module that scores a read.

    check_findings reads the side a read gives a finding (its own change, made beside this one). Until it does,
    a stand-in gives each present or hedged finding the first side word of its deciding sentence: enough for the
    one-finding sentences here. Once check_findings reads sides, the stand-in is not used and these tests run
    through the real reader.
    """
    if _reads_sides():
        return
    real = concordance.check_findings

    def stand_in(text, case, **options):
        return [replace(c, side=match.group(1).lower()) if c.status in ("present", "uncertain")
                and (match := _SIDE_WORD.search(c.evidence)) else c for c in real(text, case, **options)]

    for module in (quizzes, class_reads, summary, impressions):
        monkeypatch.setattr(module, "check_findings", stand_in)


@pytest.fixture
def keyed_cases(tmp_path, monkeypatch):
    """The case files, with case 03's effusion keyed right and moderate (as the film shows it)."""
    folder = tmp_path / "cases"
    folder.mkdir()
    for source in sorted((PROJECT_ROOT / "cases").glob("*.yaml")):
        data = yaml.safe_load(source.read_text())
        if data["id"] == "03":
            effusion_key = next(f for f in data["answer_key"]["findings"] if f["name"] == "pleural effusion")
            effusion_key.update(side="right", size="moderate")
        (folder / source.name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    monkeypatch.setenv("MEDGEMMA_CASES_DIR", str(folder))
    return folder


LEFT_03 = ("Large left pleural effusion. No pneumothorax. No consolidation. A catheter is seen. Surgical clips in "
           "the axilla.")
RIGHT_03 = ("Moderate right pleural effusion. No pneumothorax. No consolidation. A catheter is seen. Surgical clips in "
            "the axilla.")


def _findings(text: str) -> mh.Findings:
    return mh.Findings(text=text, thinking="", prompt="Describe the film.", model_name="stand-in", prompt_tokens=1,
                       new_tokens=1, seconds=1.0)


def test_the_side_by_side_comparison_shows_a_wrong_side_and_its_tally(keyed_cases, side_reading):
    case = mh.load_case("03")
    page = quizzes.comparison_html(case, _findings(LEFT_03), RIGHT_03)
    mine, model = page.split("MedGemma vs the answer key")
    assert WRONG not in mine and "✓ agrees" in mine
    assert WRONG in model and 'class="mh-wrong_side"' in model
    assert "wrong side 1 ·" in model and "wrong side 0 ·" in mine


def test_the_text_comparison_uses_the_same_words(keyed_cases, side_reading):
    text = quizzes.comparison_text(mh.load_case("03"), _findings(LEFT_03), RIGHT_03)
    assert re.search(rf"\n  - pleural effusion: read present · left[^\n]*, key present · right · moderate: {WRONG}\n",
                     text)
    assert "MedGemma: 4/5 findings agree" in text and "wrong side 1 · size or site differs 0" in text


def test_the_terminal_run_prints_the_wrong_side(keyed_cases, side_reading, capsys):
    reveal.forget_sessions()  # no read committed by an earlier test in this kernel
    quizzes.show_answer_key("03", _findings(LEFT_03))  # what `python -m medgemma_helpers run 03` shows at the end
    printed = capsys.readouterr().out
    assert WRONG in printed and "Kinds of error: missed 0 · invented 0 · wrong side 1" in printed


def test_the_handout_shows_the_wrong_side(keyed_cases, side_reading, tmp_path):
    film = Image.new("RGB", (64, 64), "gray")
    path = mh.export_handout("03", _findings(LEFT_03), tmp_path, resident_read="<b>Left</b> effusion.", image=film)
    page = path.read_text()
    assert page.count(WRONG) == 2 and page.count("Kinds of error:") == 2  # the resident's read and MedGemma's
    assert "&lt;b&gt;Left&lt;/b&gt; effusion." in page and "<b>Left</b>" not in page


def test_the_saved_record_says_wrong_side(keyed_cases, side_reading, tmp_path):
    path = mh.save_read("03", LEFT_03, "Dee", tmp_path)
    record = json.loads(path.read_text())
    effusion_row = next(f for f in record["findings"] if f["finding"] == "pleural effusion")
    assert effusion_row["verdict"] == "wrong side" and effusion_row["side"] == "left"
    assert effusion_row["key_side"] == "right" and record["score"] == [4, 5]


@pytest.fixture
def shown(monkeypatch):
    """What class_review shows: its HTML and its plain text."""
    pages: list[tuple[str, str]] = []
    monkeypatch.setattr(class_reads, "show_html", lambda markup, plain: pages.append((markup, plain)))
    return pages


def test_the_class_review_counts_wrong_side_in_its_own_column_and_quotes_it(keyed_cases, side_reading, tmp_path,
                                                                            shown):
    folder = tmp_path / "reads"
    mh.save_read("03", LEFT_03, "Ana", folder)
    mh.save_read("03", "A left-sided pleural effusion, no pneumothorax, a catheter.", "Ben", folder)
    mh.save_read("03", RIGHT_03, "Cai", folder)
    rows = mh.class_review(folder, aliases=True)
    effusion_rows = {r["resident"]: r for r in rows if r["finding"] == "pleural effusion"}
    assert {who: r["outcome"] for who, r in effusion_rows.items()} == {"Ana": "wrong side", "Ben": "wrong side",
                                                                       "Cai": "right"}
    assert effusion_rows["Ana"]["side"] == "left" and effusion_rows["Ana"]["score"] == "4/5"
    page, plain = shown[0]
    header = re.findall(r"<th\s[^>]*>(.*?)</th>", page)
    assert header[:8] == ["Finding", "Key", "right", "missed", "over-called", "wrong side", "hedged", "not scored"]
    effusion_cells = re.findall(r"<td[^>]*>(.*?)</td>", page.split("<td style='padding:3px 8px;border:1px solid "
                                                                    "#bbb;text-align:left'>pleural effusion")[1]
                                .split("</tr>")[0])
    assert effusion_cells[1:7] == ["1", "", "", "2", "", ""]  # right, missed, over-called, wrong side, hedged, ...
    assert "Most often on the wrong side: pleural effusion</b> (2 of the class)" in page
    assert "Large left pleural effusion." in page
    assert "A left-sided pleural effusion, no pneumothorax, a catheter." in page
    assert "pleural effusion (present): 1 right, 2 wrong side" in plain
    out = io.StringIO()  # the rows go straight into a CSV
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    assert "Ana,03,pleural effusion,present,present,wrong side,left," in out.getvalue()


def _result(checks: list[FindingCheck]) -> summary.CaseResult:
    agreeing, total = concordance_score(checks)
    return summary.CaseResult("03", "Acute respiratory distress", 2.0, 100, 50, agreeing, total, _findings(""),
                              "", tuple(checks))


def test_the_all_cases_summary_shows_wrong_sides_and_the_kinds_of_error(tmp_path, capsys):
    results = [_result([effusion(), FindingCheck("pneumothorax", "not_mentioned", "absent")])]
    page = summary.summary_html(results)
    assert "<th>Kinds of error</th><th>Wrong side</th>" in page and "<td>0/2</td>" in page
    assert "<td>missed 1 · invented 0 · wrong side 1 · size or site differs 0 · hedged 0</td>" in page
    assert f"<td class='mh-wrong-side' style='background:#e8c6f0;color:#5a1470'>pleural effusion: {WRONG}</td>" in page
    rows = list(csv.DictReader(summary.write_summary(results, tmp_path)[0].open(encoding="utf-8")))
    assert (rows[0]["agreeing"], rows[0]["missed"], rows[0]["wrong_side"], rows[0]["hedged"]) == ("0", "1", "1", "0")
    assert rows[0]["wrong_side_findings"] == f"pleural effusion: {WRONG}"
    summary.show_summary(results)  # the `summary` command's terminal table
    printed = capsys.readouterr().out
    assert "0/2" in printed and f"✗ pleural effusion: {WRONG}" in printed and "wrong side 1" in printed


def test_the_summary_of_a_read_without_errors_leaves_the_wrong_side_cell_empty():
    page = summary.summary_html([_result([effusion("right", "moderate")])])
    assert "mh-wrong-side" not in page and "<td>1/1</td>" in page and "wrong side 0" in page


# ---------------------------------------------------------------- a structured read against itself

CONTRADICTING = """Lungs and pleura: A small pleural effusion is present. No pneumothorax.
Heart and mediastinum: The heart size is normal.
Lines and devices: None seen.
Impression: Cardiomegaly, without pleural effusion."""


def test_an_impression_that_contradicts_the_findings_is_flagged_with_both_sentences():
    case = mh.load_case("01")
    found = impressions.impression_contradictions(CONTRADICTING, case)
    assert [(c.finding, c.findings_say, c.impression_says) for c in found] == [
        ("pleural effusion", "present", "absent"), ("cardiomegaly", "absent", "present")]
    assert found[0].sentence() == ("The impression contradicts the findings on pleural effusion: the findings say "
                                   "present (“A small pleural effusion is present.”), the impression says absent "
                                   "(“Cardiomegaly, without pleural effusion.”).")
    assert found[1].findings_sentence == "The heart size is normal."  # a normal statement denies it


@pytest.mark.parametrize("read", [
    "A small pleural effusion is present. Impression: no effusion.",  # no findings sections: not structured
    "Lungs and pleura: No pleural effusion.\nHeart and mediastinum: Normal heart size.",  # no impression
    "Lungs and pleura: Clear lungs, no effusion.\nImpression: No pleural effusion. Normal study.",  # they agree
    "Lungs and pleura: A small effusion.\nImpression: Possible small effusion.",  # a hedge is no contradiction
])
def test_no_contradiction_without_both_halves_or_when_they_agree(read):
    assert impressions.impression_contradictions(read, mh.load_case("01")) == []


def test_a_recommendation_is_not_part_of_the_findings():
    read = ("Lungs and pleura: No pneumothorax.\nImpression: No pneumothorax.\n"
            "**Recommendation:** repeat the film if a pneumothorax develops.")
    assert impressions.impression_contradictions(read, mh.load_case("01")) == []
    bold_findings = "**Findings:** A small pleural effusion.\n**Impression:** No pleural effusion."
    assert [c.finding for c in impressions.impression_contradictions(bold_findings, mh.load_case("01"))] == [
        "pleural effusion"]


def test_an_impression_on_the_other_side_is_flagged(keyed_cases, side_reading):
    read = "Lungs and pleura: A moderate right pleural effusion.\nImpression: Left pleural effusion."
    found = impressions.impression_contradictions(read, mh.load_case("03"))
    assert [(c.findings_say, c.impression_says) for c in found] == [("present on the right", "present on the left")]


def test_the_comparison_shows_the_contradiction_under_the_reads_table_escaped():
    case = mh.load_case("01")
    read = CONTRADICTING.replace("Cardiomegaly,", "Cardiomegaly <script>x()</script>,")
    page = quizzes.comparison_html(case, _findings(read), None)
    assert "⚠ Impression against findings" in page and "<script>" not in page
    assert "the impression says present (“Cardiomegaly &lt;script&gt;x()&lt;/script&gt;, without pleural effusion.”)" \
        in page
    text = quizzes.comparison_text(case, None, CONTRADICTING)
    assert "  ⚠ The impression contradicts the findings on cardiomegaly: the findings say absent" in text
    plain = quizzes.comparison_html(case, _findings("Cardiomegaly. No pleural effusion."), None)
    assert "mh-contradictions" not in plain
