"""The concordance rules that real radiology text needs, one group per rule, in our own sentences.

Every sentence here was written for this file in the way MedGemma and radiologists write; none is taken
from an evaluation corpus. The findings carry no `absent_when` phrases: normal statements and other
wordings come from the checker's built-in chest knowledge, keyed on the finding's name.
"""

from __future__ import annotations

import re

import pytest

from medgemma_helpers.cases import ReferenceFinding
from medgemma_helpers.concordance import FindingCheck, check_findings, concordance_score, concordance_table_html

CARDIOMEGALY = ReferenceFinding("cardiomegaly", (), "absent")
MEDIASTINUM = ReferenceFinding("widened mediastinum", (), "absent")
CONSOLIDATION = ReferenceFinding("consolidation", (), "absent")
EFFUSION = ReferenceFinding("pleural effusion", ("effusion",), "absent")
PNEUMOTHORAX = ReferenceFinding("pneumothorax", (), "absent")
OEDEMA = ReferenceFinding("pulmonary oedema", (), "absent")
FRACTURE = ReferenceFinding("rib fracture", ("fracture",), "absent")
NODULE = ReferenceFinding("nodule", (), "absent")
MASS = ReferenceFinding("lung mass", ("mass", "tumour"), "absent")
PNEUMONIA = ReferenceFinding("pneumonia", (), "absent")
EMPHYSEMA = ReferenceFinding("emphysema", (), "absent")
FIBROSIS = ReferenceFinding("pulmonary fibrosis", ("fibrosis",), "absent")
KEY = (CARDIOMEGALY, MEDIASTINUM, CONSOLIDATION, EFFUSION, PNEUMOTHORAX, OEDEMA, FRACTURE, NODULE, MASS, PNEUMONIA,
       EMPHYSEMA, FIBROSIS)


def statuses(text: str, key=KEY) -> dict[str, str]:
    """The findings the text mentions, with their status (not_mentioned left out)."""
    return {c.finding: c.status for c in check_findings(text, list(key)) if c.status != "not_mentioned"}


def one(name: str) -> ReferenceFinding:
    """A finding that only this test knows, with no built-in knowledge."""
    return ReferenceFinding(name, (), "present")


# 1. Normal statements that never name the finding deny it; they are narrow, as radiologists mean them.
NORMAL_STATEMENTS = [
    ("The heart size is within normal limits.", {"cardiomegaly": "absent"}),
    ("Heart size appears normal.", {"cardiomegaly": "absent"}),
    ("The cardiac silhouette is normal in size.", {"cardiomegaly": "absent"}),
    ("**Heart size:** normal", {"cardiomegaly": "absent"}),
    ("Cardiothoracic ratio is less than 0.5.", {"cardiomegaly": "absent"}),
    ("Unremarkable cardiomediastinal silhouette.", {"cardiomegaly": "absent", "widened mediastinum": "absent"}),
    ("The mediastinum is of normal width.", {"widened mediastinum": "absent"}),
    ("Mediastinal contours are again normal.", {"widened mediastinum": "absent"}),
    ("The mediastinum (the central compartment of the chest) appears normal in width and contour.",
     {"widened mediastinum": "absent"}),
    ("Both lungs are clear.", {"consolidation": "absent"}),
    ("The lung fields appear clear bilaterally.", {"consolidation": "absent"}),
    ("The costophrenic angles are sharp.", {"pleural effusion": "absent"}),
    ("Clear costophrenic angles bilaterally.", {"pleural effusion": "absent"}),
    ("The costophrenic angles are not blunted.", {"pleural effusion": "absent"}),
    ("Pleura: unremarkable.", {"pleural effusion": "absent", "pneumothorax": "absent"}),
    ("The bony structures are intact.", {"rib fracture": "absent"}),
    ("The ribs, clavicles and scapulae appear intact.", {"rib fracture": "absent"}),
    ("The osseous structures of the thorax are unremarkable.", {"rib fracture": "absent"}),
    ("No acute osseous abnormality.", {"rib fracture": "absent"}),
    # narrow: what a normal statement does not say
    ("The right lung is clear.", {}),
    ("The lungs appear clear with good expansion.", {"consolidation": "absent"}),
    ("The ribs are visible to the costophrenic angles.", {}),
    ("The heart borders are well defined.", {}),
    ("The heart size could not be assessed on this rotated film.", {}),
    # the weakest denial: any assertion or hedge elsewhere wins
    ("The heart size is normal. However, the cardiac silhouette is enlarged on the lateral view.",
     {"cardiomegaly": "present"}),
    ("The lungs are clear. A subtle left basal consolidation cannot be excluded.", {"consolidation": "uncertain"}),
]

# 2. Positives worded the other way round, and their negated or hedged forms.
POSITIVES = [
    ("The heart appears enlarged.", {"cardiomegaly": "present"}),
    ("The heart size is moderately increased.", {"cardiomegaly": "present"}),
    ("Mildly enlarged cardiac silhouette.", {"cardiomegaly": "present"}),
    ("There is enlargement of the cardiac silhouette.", {"cardiomegaly": "present"}),
    ("The heart is not enlarged.", {"cardiomegaly": "absent"}),
    ("The heart is borderline enlarged.", {"cardiomegaly": "uncertain"}),
    ("The superior mediastinum is widened.", {"widened mediastinum": "present"}),
    ("The mediastinum does not appear widened.", {"widened mediastinum": "absent"}),
    ("There is a small nodular opacity in the left upper zone.", {"nodule": "present"}),
    ("Ill-defined mass-like opacity at the right hilum.", {"lung mass": "present"}),
    ("Perihilar haziness with Kerley B lines.", {"pulmonary oedema": "present"}),
    ("Pulmonary edema.", {"pulmonary oedema": "present"}),  # either spelling
    ("A meniscus is seen at the left base.", {"pleural effusion": "present"}),
    ("A fine visceral pleural line is seen at the right apex.", {"pneumothorax": "present"}),
]

# 3. List negation survives size and side words inside the list, and "/" between two findings.
LISTS = [
    ("No focal consolidation, large pleural effusion, or pneumothorax is identified.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("The lungs are clear without focal consolidation, sizeable effusion or pneumothorax.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("There is no consolidation, significant effusion or visible pneumothorax.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("No pneumothorax, large pleural effusion or lobar consolidation.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("No acute consolidation, moderate effusion/pneumothorax.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    # ... but a described phrase after a comma, with no "or" to follow, is its own statement
    ("No pneumothorax, small right pleural effusion.", {"pneumothorax": "absent", "pleural effusion": "present"}),
    ("No consolidation, a moderate left effusion or scarring.",
     {"consolidation": "absent", "pleural effusion": "present"}),
]

# 4. Cues that were missing.
CUES = [
    ("The patient denies chest pain.", {"chest pain": "absent"}),
    ("He denied fevers, night sweats or weight loss.", {"fevers": "absent", "weight loss": "absent"}),
    ("Sputum culture -ve for tuberculosis.", {"tuberculosis": "absent"}),
    ("Nothing to suggest a pneumothorax.", {"pneumothorax": "absent"}),
    ("There are no features to suggest pneumonia.", {"pneumonia": "absent"}),
    ("No findings suspicious for a mass.", {"lung mass": "absent"}),
    ("Low clinical suspicion for pneumonia.", {"pneumonia": "absent"}),
    ("A small left effusion is difficult to entirely exclude.", {"pleural effusion": "uncertain"}),
    ("Pneumonia is less likely.", {"pneumonia": "uncertain"}),
    # a finding whose age alone is unknown is there; a lesion of unknown nature is in doubt
    ("Healed-looking left 7th rib fracture, age-indeterminate.", {"rib fracture": "present"}),
    ("There is an age indeterminate fracture of a lower rib.", {"rib fracture": "present"}),
    ("Deformity of the left 5th rib, a fracture of indeterminate age.", {"rib fracture": "present"}),
    ("An indeterminate nodule in the right apex.", {"nodule": "uncertain"}),
    ("Mild widening of the upper mediastinum, unchanged.", {"widened mediastinum": "present"}),
    # a differential diagnosis with no verb still lists possibilities
    ("Bilateral opacities, likely edema; differential diagnosis pneumonia and hemorrhage.",
     {"pulmonary oedema": "present", "pneumonia": "uncertain"}),
    # a clause with no finding that leaves the one before open: "... less likely but not excluded"
    ("A pneumothorax is less clear but not entirely excluded.", {"pneumothorax": "uncertain"}),
    ("A small effusion is present but a pneumothorax cannot be excluded.",
     {"pleural effusion": "present", "pneumothorax": "uncertain"}),
    # ... but a clause with a subject of its own doubts that subject only
    ("A small right pneumothorax, though superimposed infection cannot be excluded.", {"pneumothorax": "present"}),
    # a limit of the film is no search: what follows is said
    ("Limited evaluation of the spine due to osteopenia, with old rib fracture deformities.",
     {"rib fracture": "present"}),
    ("Clearing of the left basal consolidation.", {"consolidation": "absent"}),
    # "and there's" opens a new clause as "and there is" does
    ("The lungs aren't fully expanded, and there's pleural fluid at both bases.", {"pleural effusion": "present"}),
    # "suspect" is a hedge, "not suspect" a denial
    ("We suspect a small left effusion.", {"pleural effusion": "uncertain"}),
    ("Findings make us suspect that there is early pneumonia.", {"pneumonia": "uncertain"}),
    ("We do not suspect a pneumothorax.", {"pneumothorax": "absent"}),
    # a denied state, then ", and some" and a new thing: the new thing is not denied
    ("The lungs aren't fully expanded, and some pleural fluid at both bases.", {"pleural effusion": "present"}),
    ("The right pleural effusion has resolved.", {"pleural effusion": "absent"}),
    ("Right apical pneumothorax, resolved.", {"pneumothorax": "absent"}),
    ("Resolved left basal consolidation; stable scarring.", {"consolidation": "absent"}),
    ("Cleared left basal consolidation; stable scarring.", {"consolidation": "absent"}),
    ("The left basal consolidation has cleared.", {"consolidation": "absent"}),
    ("Please correlate clinically for pneumonia.", {"pneumonia": "uncertain"}),
    ("A follow-up film is advised to rule-out an underlying mass.", {"lung mass": "uncertain"}),
    ("Question small right pleural effusion.", {"pleural effusion": "uncertain"}),
    ("It is unclear whether there is a small effusion.", {"pleural effusion": "uncertain"}),
    ("Pneumonia is in the differential.", {"pneumonia": "uncertain"}),
    ("A superimposed pneumonia would be a consideration.", {"pneumonia": "uncertain"}),
    ("Bibasal opacities, most suggestive of pulmonary edema.", {"pulmonary oedema": "present"}),
]

# 5. Scope: a hedge over a reasoning noun runs through its verb; an opinion's negation to the clause end.
SCOPES = [
    ("A possible underlying cause of this is pneumonia, a tumour, or heart failure.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "heart failure": "uncertain"}),
    ("Possible causes include pneumonia and pulmonary oedema.",
     {"pneumonia": "uncertain", "pulmonary oedema": "uncertain"}),
    ("The differential diagnosis includes pneumonia, small mass lesion or infarct.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "infarct": "uncertain"}),
    ("The most likely diagnosis is pneumonia.", {"pneumonia": "present"}),
    ("I do not think the patient has a pneumothorax at present.", {"pneumothorax": "absent"}),
    ("She was not hypoxic, nor was she in atrial fibrillation.", {"atrial fibrillation": "absent"}),
    ("Effusion absent on the left but present on the right.", {"pleural effusion": "present"}),
    ("No consolidation (images limited by motion) but a small effusion.",
     {"consolidation": "absent", "pleural effusion": "present"}),
    ("Thoracentesis was not performed due to the small size of the effusion.", {"pleural effusion": "present"}),
    ("The basal opacity may be due to atelectasis or pneumonia.",
     {"atelectasis": "uncertain", "pneumonia": "uncertain"}),
    ("Pleural effusion: small. Comparison: none available.", {"pleural effusion": "present"}),
]

# 6. Wrong matches: another finding's name, a date, a name that holds a cue word; punctuation in a concept.
MATCHES = [
    ("Small pericardial effusion.", {}),
    ("Subcutaneous emphysema in the left chest wall.", {}),
    ("Changes of cystic fibrosis.", {}),
    ("Bilateral leg oedema on examination.", {}),
    ("Mass effect on the left lateral ventricle.", {}),
    ("A thyroid nodule is noted incidentally.", {}),
    ("Pericardial effusion; bilateral pleural effusions.", {"pleural effusion": "present"}),
    ("Chest film of May 03: pneumothorax.", {"pneumothorax": "present"}),
    ("Known borderline personality disorder.", {"personality disorder": "present"}),
    ("History of HIV/AIDS on treatment.", {"HIV/AIDS": "present"}),
    ("She developed C. diff colitis last year.", {"C. diff colitis": "present"}),
    ("Two prior PE's on anticoagulation.", {"PE's": "present"}),
    ("Neck: supple. No lymphadenopathy.", {"Neck: supple. No lymphadenopathy": "present"}),
    ("Heart failure with haemorrhage.", {"hemorrhage": "present", "heart failure": "present"}),
]


def _extra(expected: dict[str, str]) -> list[ReferenceFinding]:
    known = {f.name for f in KEY}
    return [one(name) for name in expected if name not in known]


@pytest.mark.parametrize(("text", "expected"), NORMAL_STATEMENTS + POSITIVES + LISTS + CUES + SCOPES + MATCHES,
                         ids=lambda value: repr(value[:45]) if isinstance(value, str) else "")
def test_rule(text: str, expected: dict[str, str]):
    assert statuses(text, KEY + tuple(_extra(expected))) == expected


def test_a_case_file_need_not_list_the_normal_statements():
    """The same read, with findings that name nothing but the finding: a correct normal read agrees."""
    read = ("The heart size is within normal limits. The mediastinum is unremarkable. The lungs are clear "
            "bilaterally. The costophrenic angles are sharp. No pneumothorax. The ribs appear intact.")
    checks = check_findings(read, [CARDIOMEGALY, MEDIASTINUM, CONSOLIDATION, EFFUSION, PNEUMOTHORAX, FRACTURE])
    assert [c.status for c in checks] == ["absent"] * 6
    assert checks[0].evidence == "The heart size is within normal limits."


def test_a_finding_named_like_a_lookalike_keeps_its_own_words():
    pericardial = ReferenceFinding("pericardial effusion", (), "present")
    assert statuses("Small pericardial effusion. The costophrenic angles are sharp.", [pericardial]) == {
        "pericardial effusion": "present"}


def test_unmentioned_non_pertinent_negative_is_neither_right_nor_wrong():
    key = [ReferenceFinding("pleural effusion", ("effusion",), "present"),
           ReferenceFinding("pneumothorax", (), "absent"),
           ReferenceFinding("pulmonary oedema", (), "absent", pertinent=False)]
    checks = check_findings("Large right pleural effusion with a meniscus. No pneumothorax.", key)
    assert [c.scored for c in checks] == [True, True, False]
    assert concordance_score(checks) == (2, 2)
    # mentioned, it counts like any other finding: right when denied, wrong when called
    assert concordance_score(check_findings("Large right effusion. No pneumothorax. No oedema.", key)) == (3, 3)
    assert concordance_score(check_findings("Large right effusion. No pneumothorax. Pulmonary oedema.", key)) == (2, 3)
    # an unmentioned pertinent negative or present finding stays a miss
    assert concordance_score(check_findings("Large right effusion.", key)) == (1, 2)
    assert concordance_score(check_findings("No pneumothorax.", key)) == (1, 2)


def test_the_table_shows_an_unscored_finding_as_such():
    checks = [FindingCheck("pleural effusion", "present", "present", "Large effusion."),
              FindingCheck("pulmonary oedema", "not_mentioned", "absent", "", pertinent=False)]
    page = concordance_table_html(checks, "t")
    assert 'class="mh-unscored"' in page and "not scored (not a pertinent negative)" in page
    assert "absent (not pertinent)" in page and "Score: 1 / 1" in page


def test_case_01_credits_a_correct_normal_read_as_agreeing():
    import medgemma_helpers as mh

    read = ("**Heart:** The heart size appears within normal limits.\n"
            "**Mediastinum:** The mediastinum (the space between the lungs) appears normal in width.\n"
            "**Lungs:** The lungs are clear bilaterally, with no nodules or masses.\n"
            "**Pleura:** The costophrenic angles are sharp; no pneumothorax.\n"
            "**Impression:** Normal chest radiograph.")
    checks = mh.check_findings(read, mh.load_case("01"))
    assert [c.finding for c in checks if not c.agrees] == []
    assert mh.concordance_score(checks) == (6, 6)


# 7. A term matches both spellings and its plural (or singular), as whole words, without built-in knowledge.
SPELLINGS_AND_PLURALS = [
    ("oedema", "Mild edema."), ("edema", "Mild oedema."), ("haemorrhage", "Small hemorrhage."),
    ("hemorrhage", "Small haemorrhage."), ("dyspnoea", "Dyspnea on exertion."), ("tumour", "A tumor."),
    ("tumor", "A tumour."), ("oesophagus", "The esophagus is dilated."), ("esophagus", "Dilated oesophagus."),
    ("anaemia", "Anemia."), ("opacification", "Opacification."), ("lesion visualised", "Lesion visualized."),
    ("lesion visualized", "Lesion visualised."), ("opacity", "Two opacities."), ("opacities", "One opacity."),
    ("pneumothorax", "Bilateral pneumothoraces."), ("apex", "Both apices."), ("cervix", "Cervices."),
    ("bronchus", "Dilated bronchi."), ("hilum", "Both hila."), ("atelectasis", "Atelectases."),
    ("mass", "Several masses."), ("abscess", "Two abscesses."), ("branch", "Vessel branches."),
    ("fibroid", "Multiple fibroids."), ("fibroids", "A fibroid."), ("effusions", "An effusion."),
    ("box", "Boxes."), ("abscesses", "An abscess."), ("branches", "A branch."), ("ribs", "One rib."),
    ("air-space opacity", "Airspace opacity."), ("air space opacity", "Air-space opacities."),
    ("HIV/AIDS", "Known HIV / AIDS."),
]


@pytest.mark.parametrize("term, text", SPELLINGS_AND_PLURALS)
def test_a_term_matches_other_spellings_and_numbers(term, text):
    assert statuses(text, [one(term)]) == {term: "present"}


NOT_THE_SAME_WORD = [
    ("haemorrhage", "Hemorrhagic."), ("mass", "Massive."), ("rib", "Ribbon."), ("PE", "PEs."), ("PE", "Pelvis."),
    ("opacity", "Opacitys."), ("nodule", "Nodular."), ("effusion", "Effusional."), ("apex", "Apexed."),
    ("pleural effusion", "Pleurals effusion."), ("hila", "Hilum."),
]


@pytest.mark.parametrize("term, text", NOT_THE_SAME_WORD)
def test_a_term_does_not_match_another_word(term, text):
    assert statuses(text, [one(term)]) == {}


def test_a_term_with_a_verb_can_be_denied_inside_itself():
    heart = one("heart is enlarged")
    assert statuses("The heart is enlarged.", [heart]) == {"heart is enlarged": "present"}
    assert statuses("The heart is not enlarged.", [heart]) == {"heart is enlarged": "absent"}
    assert statuses("The heart is no longer enlarged.", [heart]) == {"heart is enlarged": "absent"}


# 8. Where a denial's reach stops, and where a list carries it on.
SCOPE = [
    # a list after a comma carries the denial to its "nor" or "/" ...
    ("No consolidation, large effusion nor pneumothorax.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("No consolidation, large effusion / pneumothorax.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    # ... but a described phrase after the comma, with no "or", is a statement of its own
    ("No consolidation, large effusion.", {"consolidation": "absent", "pleural effusion": "present"}),
    ("No consolidation, small effusion is present.", {"consolidation": "absent", "pleural effusion": "present"}),
    # "and" then a finding with its own verb starts a new clause; "and" in a list does not
    ("No effusion and pneumothorax is present.", {"pleural effusion": "absent", "pneumothorax": "present"}),
    ("No effusion and pneumothorax or consolidation is seen.",
     {"pleural effusion": "absent", "pneumothorax": "absent", "consolidation": "absent"}),
    ("No effusion and pneumothorax, consolidation or nodule is seen.",
     {"pleural effusion": "absent", "pneumothorax": "absent", "consolidation": "absent", "nodule": "absent"}),
    ("No pneumothorax, and cardiomegaly is seen.", {"pneumothorax": "absent", "cardiomegaly": "present"}),
    # a denial written after its findings reaches back only to a dash, a colon or a comma that ends no list
    ("Mild cardiomegaly - effusion and pneumothorax are not seen.",
     {"cardiomegaly": "present", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("Cardiomegaly, small effusion, pneumothorax absent.",
     {"cardiomegaly": "present", "pleural effusion": "present", "pneumothorax": "absent"}),
    ("Small effusion, now resolved.", {"pleural effusion": "absent"}),
    # label lines: the value's first phrase decides, and a value that names another finding describes that one
    ("Pleural effusion: small, not loculated, right-sided.", {"pleural effusion": "present"}),
    ("Pleural effusion: small, no pneumothorax.", {"pleural effusion": "present", "pneumothorax": "absent"}),
    ("Pleural effusion: no change since the prior study.", {"pleural effusion": "present"}),
    ("Pleural effusion: small, none on the left.", {"pleural effusion": "present"}),
    ("Mild cardiomegaly - no effusion.", {"cardiomegaly": "present", "pleural effusion": "absent"}),
    ("Cardiomegaly: effusion is not seen.", {"cardiomegaly": "present", "pleural effusion": "absent"}),
    ("Pleural effusion: no pleural effusion.", {"pleural effusion": "absent"}),
    # a clause with no finding of its own that asserts one ("... but present on the right")
    ("No effusion on the left, but present on the right.", {"pleural effusion": "present"}),
    ("No effusion on the left, but the heart is normal.", {"pleural effusion": "absent", "cardiomegaly": "absent"}),
    # words that make another finding of the key word, however the compound is written
    ("Lower-extremity oedema.", {}), ("Lower extremity edema.", {}), ("Soft tissue oedema.", {}),
    ("Fat free mass is reduced.", {}), ("Fat-free mass is reduced.", {}),
    # built-in phrasings allow a hyphen or more than one space between their words
    ("The heart  size is normal.", {"cardiomegaly": "absent"}), ("Heart-size is normal.", {"cardiomegaly": "absent"}),
    ("The costophrenic  angles are sharp.", {"pleural effusion": "absent"}),
]


@pytest.mark.parametrize("text, expected", SCOPE, ids=[text for text, _ in SCOPE])
def test_scope(text, expected):
    assert statuses(text) == expected


@pytest.mark.parametrize("name", ["pulmonary oedema", "Pulmonary Edema", "PULMONARY-OEDEMA", "pulmonary  edema"])
def test_built_in_knowledge_finds_the_finding_however_its_name_is_written(name):
    finding = ReferenceFinding(name, (), "absent")
    assert statuses("Perihilar haziness with Kerley B lines.", [finding]) == {name: "present"}


# 9. Sentences: the evidence quoted to the reader is the whole sentence, and a denial never crosses one.
SENTENCES = [
    ("No effusion! Cardiomegaly.", {"pleural effusion": ("absent", "No effusion!"),
                                    "cardiomegaly": ("present", "Cardiomegaly.")}),
    ("Small effusion, e.g. on the left. No pneumothorax.",
     {"pleural effusion": ("present", "Small effusion, e.g. on the left."),
      "pneumothorax": ("absent", "No pneumothorax.")}),
    ("Known C. difficile infection with no effusion. Cardiomegaly.",
     {"pleural effusion": ("absent", "Known C. difficile infection with no effusion."),
      "cardiomegaly": ("present", "Cardiomegaly.")}),
    ("Impression: 1. No effusion. 2. Cardiomegaly.",
     {"pleural effusion": ("absent", "Impression: 1. No effusion."), "cardiomegaly": ("present", "Cardiomegaly.")}),
    ("| Finding | Status |\n|---|---|\n| Pleural effusion | none |\n| Cardiomegaly | present |",
     {"pleural effusion": ("absent", "Pleural effusion : none"),
      "cardiomegaly": ("present", "Cardiomegaly : present")}),
]


@pytest.mark.parametrize("text, expected", SENTENCES, ids=[text[:40] for text, _ in SENTENCES])
def test_sentences_and_their_evidence(text, expected):
    found = {c.finding: (c.status, c.evidence) for c in check_findings(text, list(KEY)) if c.status != "not_mentioned"}
    assert found == expected


# 10. What the reader sees: the table, its verdicts and its evidence, all escaped.
def test_the_table_shows_each_verdict_with_its_evidence():
    key = [ReferenceFinding("pleural effusion", ("effusion",), "present"),
           ReferenceFinding("pneumothorax", (), "absent"),
           ReferenceFinding("cardiomegaly", (), "absent"),
           ReferenceFinding("rib fracture", ("fracture",), "absent", pertinent=False),
           ReferenceFinding("lung mass", ("mass",), "present")]
    # no side or size words in the read: those columns are tested with the side, size and site they show
    checks = check_findings("An <b>effusion</b>. There is pneumothorax. Possible mass.", key)
    table = concordance_table_html(checks, title="Your read vs the key")
    assert table.startswith('<div class="mh-concordance">')
    assert "<h4 style=\"margin:0.4em 0\">Your read vs the key</h4>" in table
    headers = re.findall(r"<th\s[^>]*>(.*?)</th>", table)
    assert headers == ["Finding", "Answer key", "The read says", "Verdict", "Evidence (quoted from the read)"]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]]
    assert rows == [
        ["pleural effusion", "present", "present", "✓ agrees", "<i>An &lt;b&gt;effusion&lt;/b&gt;.</i>"],
        ["pneumothorax", "absent", "present", "✗ disagrees", "<i>There is pneumothorax.</i>"],
        ["cardiomegaly", "absent", "not mentioned", "? not mentioned", "<i>—</i>"],
        ["rib fracture", "absent (not pertinent)", "not mentioned", "– not scored (not a pertinent negative)",
         "<i>—</i>"],
        ["lung mass", "present", "uncertain", "? uncertain", "<i>Possible mass.</i>"],
    ]
    assert "<b>Score: 1 / 4</b> findings agree with the answer key (uncertain and not mentioned count as not " \
           "agreeing, and so does a finding on the wrong side; an absent finding that is not a pertinent negative " \
           "counts only when the read mentions it). Checked by keyword rules: read the evidence column.</p>" in table
    # under the table: the kinds of error, and the pertinent negative the read left out
    assert "Kinds of error: missed 1 · invented 1 · wrong side 0 · size or site differs 0 · hedged 1</p>" in table
    assert "Pertinent negatives not stated: cardiomegaly. State each one (&quot;no cardiomegaly&quot;)" in table
    assert table.endswith("</p></div>")


def test_a_users_own_image_is_scored_only_on_what_that_modality_shows():
    key = [ReferenceFinding("fibroid", (), "present"),
           ReferenceFinding("uterine mass on ultrasound", ("mass",), "present", shown_on=("ultrasound",))]
    assert [c.finding for c in check_findings("A mass.", key)] == ["fibroid"]  # the case as written
    assert [c.finding for c in check_findings("A mass.", key, image_modality="US")] == ["uterine mass on ultrasound"]
    assert check_findings("A mass.", key, image_modality="MRI") == []


def test_a_read_that_is_not_text_is_refused_by_type():
    with pytest.raises(TypeError, match=r"check_findings needs the read's text \(a str or Findings\), not int\."):
        check_findings(42, [PNEUMOTHORAX])


# 8. Where a cue's scope ends, one rule at a time (each sentence fails when its rule is taken out).
SCOPE_ENDS = [
    # a parenthesis the cue stands in ends at its ")"; one opened inside the scope does not
    ("Small left pneumothorax (no effusion) with cardiomegaly.",
     {"pneumothorax": "present", "pleural effusion": "absent", "cardiomegaly": "present"}),
    ("(No effusion) Small right pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "present"}),
    ("No effusion (on either side) or pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "absent"}),
    ("Small right pneumothorax (no effusion (on either side) or consolidation) with cardiomegaly.",
     {"pneumothorax": "present", "pleural effusion": "absent", "consolidation": "absent", "cardiomegaly": "present"}),
    ("Findings: 1) no effusion 2) small right pneumothorax.",
     {"pleural effusion": "absent", "pneumothorax": "present"}),
    # a dash of any length, and a colon after some content
    ("No effusion - small right pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "present"}),
    ("No effusion – small right pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "present"}),
    ("No effusion — small right pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "present"}),
    ("No pneumothorax: small left effusion.", {"pneumothorax": "absent", "pleural effusion": "present"}),
    ("Negative for: effusion, pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "absent"}),
    # a cause ends a negation only after the cue
    ("On the film taken because of the new line there is no pneumothorax.", {"pneumothorax": "absent"}),
    ("Thoracentesis was not performed due to the small effusion - see the previous report.",
     {"pleural effusion": "present"}),
    # a backward cue reaches back to a colon or a dash, no further
    ("Consolidation at the left base - effusion not seen.", {"consolidation": "present", "pleural effusion": "absent"}),
    ("Consolidation at the left base: effusion not seen.", {"consolidation": "present", "pleural effusion": "absent"}),
    # "resolved" reaches its own noun phrase only
    ("Resolved right lower lobe consolidation.", {"consolidation": "absent"}),
    ("Resolved consolidation with new effusion.", {"consolidation": "absent", "pleural effusion": "present"}),
    ("Resolved postoperative changes at the left base with stable cardiomegaly.", {"cardiomegaly": "present"}),
    # a verb after the cue's noun phrase ends it; a participle before a finding is an adjective
    ("No pneumothorax is seen, cardiomegaly noted.", {"pneumothorax": "absent", "cardiomegaly": "present"}),
    ("Pneumothorax is not seen, cardiomegaly noted.", {"pneumothorax": "absent", "cardiomegaly": "present"}),
    ("No large effusion or visualized pneumothorax - mild cardiomegaly.",
     {"pleural effusion": "absent", "pneumothorax": "absent", "cardiomegaly": "present"}),
    # a bare "and" continues the list; a described phrase after it does not
    ("No consolidation and basal effusion.", {"consolidation": "absent", "pleural effusion": "absent"}),
    # a reasoning noun or a differential makes a list that runs past commas and articles
    ("Possible causes include pneumonia, a mass, or pulmonary oedema.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "pulmonary oedema": "uncertain"}),
    ("Possible causes are pneumonia, a mass and pulmonary oedema.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "pulmonary oedema": "uncertain"}),
    ("A possible aetiology includes pneumonia, a mass or pulmonary oedema.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "pulmonary oedema": "uncertain"}),
    ("Several possible causes, including pneumonia, a mass and pulmonary oedema.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "pulmonary oedema": "uncertain"}),
    # ... and ends where any other scope would
    ("Possible causes include pneumonia or pulmonary oedema - mild cardiomegaly.",
     {"pneumonia": "uncertain", "pulmonary oedema": "uncertain", "cardiomegaly": "present"}),
    ("A possible cause is pneumonia or pulmonary oedema - mild cardiomegaly.",
     {"pneumonia": "uncertain", "pulmonary oedema": "uncertain", "cardiomegaly": "present"}),
    ("The differential includes pneumonia, a mass and pulmonary oedema.",
     {"pneumonia": "uncertain", "lung mass": "uncertain", "pulmonary oedema": "uncertain"}),
    # two hedges are not a negation; a hedge and a denial of one mention commit to nothing
    ("There are possible features to suggest pneumonia.", {"pneumonia": "uncertain"}),
    ("A possible effusion is not seen.", {"pleural effusion": "uncertain"}),
    # a clause after "but" keeps its own positions
    ("Small effusion but a pneumothorax is not seen.", {"pleural effusion": "present", "pneumothorax": "absent"}),
    ("Effusion absent on the left but not seen on the right either.", {"pleural effusion": "absent"}),
    ("Effusion absent on the left but present on the right with no change in size.",
     {"pleural effusion": "present"}),
    # a clause word inside a finding's own name ends nothing, and a real one after it still does
    ("She denies breathlessness while lying flat but reports cough.",
     {"breathlessness while lying flat": "absent", "cough": "present"}),
    # label lines: the value's first phrase, wherever the line starts and however the value is joined
    ("On this film, pleural effusion: none.", {"pleural effusion": "absent"}),
    ("Pneumothorax - none.", {"pneumothorax": "absent"}),
    ("Mild cardiomegaly - effusion absent.", {"cardiomegaly": "present", "pleural effusion": "absent"}),
    ("Cardiomegaly: mild, lungs clear.", {"cardiomegaly": "present", "consolidation": "absent"}),
    # questions with and without an answer
    ("Pleural effusion? Yes. Pneumothorax? No. Cardiomegaly?",
     {"pleural effusion": "present", "pneumothorax": "absent", "cardiomegaly": "uncertain"}),
    ("Pneumothorax? Present. Effusion? Negative.", {"pneumothorax": "present", "pleural effusion": "absent"}),
    ("Consolidation? Positive.", {"consolidation": "present"}),
    # sentences: a read typed in lower case or in capitals, abbreviations that end nothing
    ("no effusion. small right pneumothorax.", {"pleural effusion": "absent", "pneumothorax": "present"}),
    ("CONSOLIDATION, EFFUSION AND PNEUMOTHORAX ARE ABSENT.",
     {"consolidation": "absent", "pleural effusion": "absent", "pneumothorax": "absent"}),
    ("Small effusion vs. consolidation at the left base.",
     {"pleural effusion": "uncertain", "consolidation": "uncertain"}),
    ("Small effusion Vs. consolidation at the left base.",
     {"pleural effusion": "uncertain", "consolidation": "uncertain"}),
    ("A pneumothorax on the p.a. film is not seen.", {"pneumothorax": "absent"}),
    # the longer of two overlapping terms wins
    ("Consolidation with air bronchograms in the left lower lobe.",
     {"consolidation with air bronchograms": "present"}),
]


@pytest.mark.parametrize(("text", "expected"), SCOPE_ENDS,
                         ids=lambda value: repr(value[:45]) if isinstance(value, str) else "")
def test_scope_end(text: str, expected: dict[str, str]):
    assert statuses(text, KEY + tuple(_extra(expected))) == expected


def test_an_answered_question_quotes_question_and_answer_as_evidence():
    checks = check_findings("Pleural effusion? Yes. No pneumothorax.", [EFFUSION, PNEUMOTHORAX])
    assert [(c.status, c.evidence) for c in checks] == [
        ("present", "Pleural effusion? Yes."), ("absent", "No pneumothorax.")]


def test_evidence_is_quoted_without_list_markers():
    checks = check_findings("- No pneumothorax.\n2. Small left effusion.", [PNEUMOTHORAX, EFFUSION])
    assert [c.evidence for c in checks] == ["No pneumothorax.", "Small left effusion."]


def test_a_case_may_be_named_by_id_or_slug():
    import medgemma_helpers as mh

    read = "Large right pleural effusion. No pneumothorax."
    by_case = mh.check_findings(read, mh.load_case("03"))
    assert mh.check_findings(read, "03") == by_case
    assert mh.check_findings(read, mh.load_case("03").slug) == by_case


def test_each_check_keeps_whether_its_finding_is_pertinent():
    key = [PNEUMOTHORAX, ReferenceFinding("pulmonary oedema", (), "absent", pertinent=False)]
    assert [c.pertinent for c in check_findings("No pneumothorax. No oedema.", key)] == [True, False]
    assert [c.pertinent for c in check_findings("", key)] == [True, False]


def test_a_check_refuses_an_unknown_status_and_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"^FindingCheck status 'maybe' must be one of present, absent, "
                                         r"uncertain, not_mentioned\.$"):
        FindingCheck("pneumothorax", "maybe")


def test_an_empty_table_says_so_under_the_default_title():
    table = concordance_table_html([])
    assert '<h4 style="margin:0.4em 0">Model read vs answer key</h4>' in table
    cell = "padding:4px 8px;border:1px solid #bbb;text-align:left;vertical-align:top"
    assert f'<tbody><tr><td style="{cell}" colspan="5">No answer-key findings to compare.</td></tr></tbody>' in table
    assert f'<tr><th style="{cell}">Finding</th><th style="{cell}">Answer key</th>' in table
    assert "<b>Score: 0 / 0</b>" in table
    two = concordance_table_html([FindingCheck("pneumothorax", "absent", "absent", "No pneumothorax."),
                                  FindingCheck("a finding with no key", "present")])
    assert '</td></tr><tr class="mh-' in two  # rows follow one another, nothing between them
    assert f'<td style="{cell}">a finding with no key</td><td style="{cell}">—</td>' in two


@pytest.mark.parametrize(("name", "keys"), [
    ("Pulmonary Edema", ["pulmonary oedema"]),  # either spelling, any case
    ("PLEURAL-EFFUSION", ["pleural effusion"]),  # a hyphen for a space
    ("Widened-Mediastinum", ["widened mediastinum"]),
    ("pericardial effusion with pneumothorax", ["pneumothorax"]),  # a lookalike skips one entry, not the rest
    ("haemothorax", []),
])
def test_built_in_chest_knowledge_is_found_by_name(name, keys):
    from medgemma_helpers.chest_findings import standard_findings_for

    assert [entry.keys[0] for entry in standard_findings_for(name)] == keys
