"""check_findings: negation, hedging, scope, synonyms and the HTML table, on a small made-up case."""

from __future__ import annotations

from dataclasses import MISSING, fields
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from medgemma_helpers.cases import AnswerKey, Case, Patient, ReferenceFinding
from medgemma_helpers.concordance import (
    FindingCheck,
    check_findings,
    concordance_score,
    concordance_table_html,
)

EFFUSION = ReferenceFinding("pleural effusion", ("effusion", "pleural fluid"), "absent")
PNEUMOTHORAX = ReferenceFinding("pneumothorax", (), "absent")
CONSOLIDATION = ReferenceFinding("consolidation", ("air-space opacity",), "present")
CARDIOMEGALY = ReferenceFinding("cardiomegaly", ("enlarged heart", "heart is enlarged"), "absent")


def make_case(*findings: ReferenceFinding) -> Case:
    """A minimal Case whose answer key holds the given findings; only the answer key matters here."""
    values = dict(
        id="99", slug="test-case", title="Test case", modality="Chest radiograph", view="PA",
        patient=Patient(age=None, sex=None), presenting_complaint="-", history="-", red_flags=("-",),
        differential=("-",), review_checklist=("-",), question="Describe the findings.", system_prompt=None,
        answer_key=AnswerKey(findings=tuple(findings), diagnosis="-", certainty="-"),
        teaching_points=("-",), image=None, source_file=Path("99_test-case.yaml"),
    )
    # Case gains fields as the package grows; concordance reads none of them, so None keeps this test
    # about concordance rather than about the case schema
    for field in fields(Case):
        if field.name not in values and field.default is MISSING and field.default_factory is MISSING:
            values[field.name] = None
    return Case(**values)


CASE = make_case(EFFUSION, PNEUMOTHORAX, CONSOLIDATION, CARDIOMEGALY)
E, P, C, H = "pleural effusion", "pneumothorax", "consolidation", "cardiomegaly"

# (text, {finding: status}); every finding not listed must come out not_mentioned.
PHRASINGS = [
    # a negation does not reach across "and" into a new clause
    ("No pleural effusion and a large right pneumothorax is seen.", {E: "absent", P: "present"}),
    ("No pneumothorax, and cardiomegaly is present.", {P: "absent", H: "present"}),
    ("There is no pleural effusion and the heart is enlarged.", {E: "absent", H: "present"}),
    ("No pleural effusion and pneumothorax.", {E: "absent", P: "absent"}),
    # negation
    ("No pneumothorax.", {P: "absent"}),
    ("Effusion is not seen.", {E: "absent"}),
    ("The lungs are free of consolidation.", {C: "absent"}),
    ("Negative for pneumothorax.", {P: "absent"}),
    ("There is no evidence of consolidation.", {C: "absent"}),
    ("Absence of pleural effusion.", {E: "absent"}),
    ("Pneumothorax has been ruled out.", {P: "absent"}),
    ("Cardiomegaly without pleural effusion.", {H: "present", E: "absent"}),
    ("There isn't an effusion.", {E: "absent"}),
    ("The effusion has now completely resolved.", {E: "absent"}),
    ("The pneumothorax seen on the prior film is no longer visible.", {P: "absent"}),
    ("No definite effusion.", {E: "absent"}),
    ("The heart is not enlarged.", {H: "absent"}),
    ("No change in the right pleural effusion.", {E: "present"}),
    # hedging
    ("Cannot exclude a small effusion.", {E: "uncertain"}),
    ("A small left effusion cannot be excluded.", {E: "uncertain"}),
    ("Possible cardiomegaly.", {H: "uncertain"}),
    ("The basal opacity may represent consolidation.", {C: "uncertain"}),
    ("Findings suggestive of consolidation.", {C: "uncertain"}),
    ("There may be a small effusion.", {E: "uncertain"}),
    ("It is possible that there is an effusion.", {E: "uncertain"}),
    ("Small effusion, if any.", {E: "uncertain"}),
    ("Right basal air-space opacity versus atelectasis.", {C: "uncertain"}),
    ("?consolidation at the right base.", {C: "uncertain"}),
    # "likely"/"probable"/"consistent with" commit to the finding; "unlikely" commits against it
    ("Likely small left effusion.", {E: "present"}),
    ("Consolidation is probable.", {C: "present"}),
    ("Appearances are consistent with consolidation.", {C: "present"}),
    ("Effusion is unlikely.", {E: "absent"}),
    # hypothetical: named but not claimed
    ("Recommend CT to evaluate for pneumothorax.", {P: "uncertain"}),
    ("No pneumothorax. If a pneumothorax develops, repeat the film.", {P: "absent"}),
    ("Evaluation for pneumothorax is negative.", {P: "absent"}),
    ("Is there a pneumothorax? No.", {P: "absent"}),
    ("Is there a pneumothorax?", {P: "uncertain"}),
    # scope ends at but / however / although / ';' / a new clause / a new described phrase / a dash
    ("No effusion, but a large right-sided consolidation.", {E: "absent", C: "present"}),
    ("There is consolidation in the right lower lobe, however no effusion.", {C: "present", E: "absent"}),
    ("The lungs are clear although a small effusion is present.", {E: "present", C: "absent"}),
    ("No pneumothorax; there is a large consolidation.", {P: "absent", C: "present"}),
    ("No pneumothorax is seen and a small effusion is present.", {P: "absent", E: "present"}),
    ("No pneumothorax, small left effusion.", {P: "absent", E: "present"}),
    ("Small effusion, pneumothorax not seen.", {E: "present", P: "absent"}),
    ("Cardiomegaly is present and effusion is not seen.", {H: "present", E: "absent"}),
    ("No effusion — small pneumothorax.", {E: "absent", P: "present"}),
    # negation spans a list, forwards and backwards
    ("There is no pleural effusion or pneumothorax.", {E: "absent", P: "absent"}),
    ("No consolidation, effusion, or pneumothorax is identified.", {C: "absent", E: "absent", P: "absent"}),
    ("The lungs are clear without focal consolidation, pleural effusion, or pneumothorax.",
     {C: "absent", E: "absent", P: "absent"}),
    ("Consolidation, effusion and pneumothorax are not seen.", {C: "absent", E: "absent", P: "absent"}),
    # several mentions: present > uncertain > absent
    ("No left effusion; small right effusion.", {E: "present"}),
    ("No pneumothorax. A tiny apical pneumothorax cannot be excluded.", {P: "uncertain"}),
    ("Possible small effusion. Large right pleural effusion with a meniscus.", {E: "present"}),
    ("The heart is enlarged. There is a small left pleural effusion. No pneumothorax.",
     {H: "present", E: "present", P: "absent"}),
    # synonyms, case, punctuation, hyphens, plurals
    ("NO PLEURAL-EFFUSION!!", {E: "absent"}),
    ("Bilateral pleural effusions.", {E: "present"}),
    ("Patchy airspace opacities in both lower zones.", {C: "present"}),
    ("Air space opacity, left lower lobe.", {C: "present"}),
    ("Pleural fluid tracks up the right lateral chest wall.", {E: "present"}),
    ("No pneumothoraces.", {P: "absent"}),
    ("The heart is enlarged (cardiothoracic ratio 0.6).", {H: "present"}),
    # markdown, label lines and tables as MedGemma writes them
    ("**Findings:**\n- **Lungs:** Right lower lobe consolidation.\n- **Pleura:** No pleural effusion or "
     "pneumothorax.\n- **Heart:** Normal size.", {C: "present", E: "absent", P: "absent", H: "absent"}),
    ("Pleural effusion: none\nPneumothorax: absent\nConsolidation: right lower lobe\n"
     "Cardiomegaly: heart size normal", {E: "absent", P: "absent", C: "present", H: "absent"}),
    ("| Finding | Status |\n|---|---|\n| Pleural effusion | Absent |\n| Pneumothorax | Present |",
     {E: "absent", P: "present"}),
    ("Pleural effusion - small, right-sided", {E: "present"}),
    # the thinking trace is not the answer
    ("<unused94>thought\nThere is a large pneumothorax and an effusion.<unused95>No pneumothorax. No effusion.",
     {P: "absent", E: "absent"}),
    ("Consolidation at the right base.<unused94>thought\nmaybe a pneumothorax too", {C: "present"}),
    ("Right basal consolidation. <unused94>thought\nlarge effusion?<unused95> No effusion.",
     {C: "present", E: "absent"}),
    # nothing said
    ("", {}),
    ("   \n  ", {}),
    ("The cardiac borders are sharp.", {}),
    # a normal statement denies the finding it describes (built-in chest knowledge)
    ("The cardiomediastinal silhouette is within normal limits.", {H: "absent"}),
]


@pytest.mark.parametrize(("text", "expected"), PHRASINGS, ids=[repr(t[:50]) for t, _ in PHRASINGS])
def test_phrasing_status(text, expected):
    statuses = {check.finding: check.status for check in check_findings(text, CASE)}
    wanted = {f.name: expected.get(f.name, "not_mentioned") for f in CASE.answer_key.findings}
    assert statuses == wanted


def test_enough_phrasings_are_covered():
    assert len(PHRASINGS) >= 30


def test_one_check_per_finding_in_answer_key_order_with_expected_and_evidence():
    checks = check_findings("The lungs are clear. No pleural effusion is seen. Large right pneumothorax.", CASE)
    assert [c.finding for c in checks] == [E, P, C, H]
    assert [c.expected for c in checks] == ["absent", "absent", "present", "absent"]
    assert checks[0].evidence == "No pleural effusion is seen."
    assert checks[1].evidence == "Large right pneumothorax."
    # "The lungs are clear" denies consolidation without naming it: the weakest denial, quoted as evidence
    assert (checks[2].status, checks[2].evidence) == ("absent", "The lungs are clear.")
    assert check_findings("No pleural effusion.", CASE)[3] == FindingCheck(H, "not_mentioned", "absent", "")


def test_evidence_is_the_sentence_that_decided_the_combined_status():
    (check,) = check_findings("No left effusion. Small right effusion.", make_case(EFFUSION))
    assert (check.status, check.evidence) == ("present", "Small right effusion.")


def test_another_findings_longer_term_wins():
    mass = ReferenceFinding("lung mass", ("mass",), "present")
    mediastinum = ReferenceFinding("widened mediastinum", ("mediastinal mass",), "absent")
    checks = check_findings("No mediastinal mass.", make_case(mass, mediastinum))
    assert [c.status for c in checks] == ["not_mentioned", "absent"]


def test_whole_words_only():
    checks = check_findings("There is a hydropneumothorax. The patient is effusive.", make_case(PNEUMOTHORAX, EFFUSION))
    assert [c.status for c in checks] == ["not_mentioned", "not_mentioned"]


def test_accepts_findings_object_and_answer_key():
    findings = SimpleNamespace(text="No pneumothorax.", thinking="")
    assert check_findings(findings, CASE.answer_key)[1].status == "absent"
    assert [c.status for c in check_findings(None, CASE)] == ["not_mentioned"] * 4
    with pytest.raises(TypeError):
        check_findings(42, CASE)


def test_finding_check_contract():
    check = FindingCheck("pneumothorax", "absent")  # the two positional fields are the public contract
    assert (check.finding, check.status, check.expected, check.evidence) == ("pneumothorax", "absent", "", "")
    assert not check.agrees
    assert FindingCheck("pneumothorax", "absent", "absent").agrees
    assert not FindingCheck("x", "uncertain", "uncertain").agrees
    assert not FindingCheck("x", "not_mentioned", "not_mentioned").agrees
    with pytest.raises(ValueError):
        FindingCheck("x", "maybe")


def sample_checks() -> list[FindingCheck]:
    return [
        FindingCheck("consolidation", "present", "present", "Right lower lobe consolidation."),
        FindingCheck("pleural effusion", "present", "absent", "Small effusion."),
        FindingCheck("pneumothorax", "absent", "absent", "No pneumothorax."),
        FindingCheck("cardiomegaly", "uncertain", "absent", "Possible cardiomegaly."),
        FindingCheck("nodule", "not_mentioned", "absent", ""),
    ]


def test_concordance_score():
    assert concordance_score(sample_checks()) == (2, 5)
    assert concordance_score([]) == (0, 0)
    assert concordance_score(check_findings("No effusion. No pneumothorax. Consolidation.", CASE)) == (3, 4)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append(dict(attrs).get("class", ""))


def test_table_colours_and_score():
    page = concordance_table_html(sample_checks(), "Case 99")
    parser = _Tags()
    parser.feed(page)
    assert parser.rows == ["", "mh-agree", "mh-disagree", "mh-agree", "mh-unsure", "mh-unsure"]
    assert "#d4edda" in page and "#f8d7da" in page and "#fff3cd" in page  # green, red, amber
    assert "Score: 2 / 5" in page and "Case 99" in page
    assert "not mentioned" in page


def test_table_escapes_all_text():
    evil = "<script>alert('x')</script>"
    checks = [FindingCheck("<img src=x onerror=alert(1)>", "absent", "<b>absent</b>", evil)]
    page = concordance_table_html(checks, title='"><script>alert(2)</script>')
    parser = _Tags()
    parser.feed(page)
    assert not {"script", "img"} & set(parser.tags)
    assert parser.tags.count("b") == 1  # only the table's own bold score
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_model_text_in_evidence_is_escaped_end_to_end():
    checks = check_findings("<script>alert('x')</script> No pleural effusion.", CASE)
    assert "<script>" in checks[0].evidence  # the check keeps the model's words verbatim ...
    page = concordance_table_html(checks, "t")
    assert "<script>" not in page and "&lt;script&gt;" in page  # ... and the table never renders them


def test_normal_statements_from_the_case_file_deny_a_finding():
    import medgemma_helpers as mh

    case = mh.load_case("01")
    statuses = {c.finding: c.status for c in mh.check_findings(
        "Heart size normal. The lungs are clear. Costophrenic angles are sharp.", case)}
    assert statuses["cardiomegaly"] == "absent" and statuses["consolidation"] == "absent"
    assert statuses["pleural effusion"] == "absent" and statuses["pneumothorax"] == "not_mentioned"
    # A positive mention still wins over a normal statement elsewhere (the combining rule).
    mixed = {c.finding: c.status for c in mh.check_findings("Heart size normal. Mild cardiomegaly is seen.", case)}
    assert mixed["cardiomegaly"] == "present"


def _read(text: str, finding: ReferenceFinding, **options: bool) -> str:
    return check_findings(text, [finding], **options)[0].status


LINE = ReferenceFinding("line or tube", (), "absent")
FIBROSIS = ReferenceFinding("pulmonary fibrosis", ("scarring",), "present")
NODULE = ReferenceFinding("nodule", (), "present")


@pytest.mark.parametrize("text", ["Interval removal of the left PICC.", "The right PICC line has since been removed."])
def test_a_device_taken_out_is_absent(text):
    assert _read(text, LINE) == "absent"


def test_found_and_removed_was_there():
    assert _read("A small nodule was found and removed at surgery.", NODULE) == "present"


def test_two_findings_joined_by_or_are_a_differential_only_when_asked():
    text = "Scarring or plate atelectasis at the left base."
    assert (_read(text, FIBROSIS), _read(text, FIBROSIS, differential=True)) == ("present", "uncertain")
    # a count, and a device whose type is the question, are not a differential
    assert _read("One or more small nodules in the right lung.", NODULE, differential=True) == "present"
    assert _read("A central line or PICC in the SVC.", LINE, differential=True) == "present"


def test_an_enlarged_cardiac_contour_is_cardiomegaly():
    assert _read("Mildly enlarged cardiac contour.", ReferenceFinding("cardiomegaly", (), "absent")) == "present"
