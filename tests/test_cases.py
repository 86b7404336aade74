"""Case files validate; case images come only from verified bytes (mirror, local copy or pinned download)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, shared_images_dir
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import case_images, cases


def test_six_cases_validate_in_order():
    all_cases = mh.list_cases()
    assert [case.id for case in all_cases] == ["01", "02", "03", "04", "05", "06"]
    for case in all_cases:
        assert case.question.strip() and case.answer_key.findings and case.teaching_points
        assert (case.image is None) == (case.id == "06")
    assert mh.load_case(3).slug == mh.load_case("03").slug == "acute-respiratory-distress"
    assert mh.load_case("acute-respiratory-distress").id == "03"


def test_unknown_case_lists_the_known_ones():
    with pytest.raises(mh.CaseError, match="known cases: 01"):
        mh.load_case("99")
    with pytest.raises(mh.CaseError):
        mh.load_case(["01"])


def _sources_md_hashes() -> dict[str, str]:
    text = (PROJECT_ROOT / "images" / "SOURCES.md").read_text()
    return {name: digest for name, digest in re.findall(r"(case0\d_[\w.]+\.png)[^\n]*?([0-9a-f]{64})", text)}


def test_pinned_hashes_match_the_sources():
    pinned = {case.image.file: case.image.sha256 for case in mh.list_cases() if case.image}
    assert len(pinned) == 5
    assert _sources_md_hashes() == pinned
    folder = shared_images_dir()
    if folder is not None and (folder / "SOURCES.json").is_file():
        sources = {entry["file"]: entry for entry in json.loads((folder / "SOURCES.json").read_text())}
        for case in mh.list_cases():
            if case.image:
                entry = sources[case.image.file]
                assert (case.image.sha256, case.image.url, case.image.size_bytes) == \
                       (entry["sha256"], entry["raw_url"], entry["file_size_bytes"])


def _write_case(folder: Path, data: dict, name: str = "01_test-case.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def valid_case_data() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "cases" / "03_acute-respiratory-distress.yaml").read_text()) | {
        "id": "01", "slug": "test-case"}


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("history"), "history"),
    (lambda d: d.update(title=["not", "text"]), "title"),
    (lambda d: d["patient"].update(age="sixty"), "patient.age"),
    (lambda d: d["patient"].update(age=True), "patient.age"),
    (lambda d: d.update(red_flags="one string"), "red_flags"),
    (lambda d: d["answer_key"]["findings"][0].update(expected="maybe"), "answer_key.findings[0].expected"),
    (lambda d: d["answer_key"]["findings"][1].pop("synonyms"), "answer_key.findings[1].synonyms"),
    (lambda d: d["image"].update(file="../../etc/passwd"), "image.file"),
    (lambda d: d["image"].update(file="/etc/passwd"), "image.file"),
    (lambda d: d["image"].update(file="sub/dir.png"), "image.file"),
    (lambda d: d["image"].update(sha256="abc"), "image.sha256"),
    (lambda d: d["image"].update(url="http://example.org/x.png"), "image.url"),
    (lambda d: d.update(id=1), "id"),
    (lambda d: d.update(slug="Has Spaces"), "slug"),
    (lambda d: d.update(difficulty="hard"), "difficulty"),
    (lambda d: d.update(objectives="one string"), "objectives"),
    (lambda d: d.update(discussion_questions=["Only one?"]), "discussion_questions"),
    (lambda d: d["model_report"].pop("impression"), "model_report.impression"),
    (lambda d: d.update(model_report="a report"), "model_report"),
    (lambda d: d["references"][1].update(url="http://radiopaedia.org/articles/x"), "references[1].url"),
    (lambda d: d["references"][0].update(url="https://radiopaedia.org/a b"), "references[0].url"),
    (lambda d: d["references"][0].pop("title"), "references[0].title"),
])
def test_invalid_case_files_name_file_and_field(tmp_path, valid_case_data, change, field):
    change(valid_case_data)
    path = _write_case(tmp_path, valid_case_data)
    with pytest.raises(mh.CaseError) as caught:
        mh.list_cases(tmp_path)
    assert path.name in str(caught.value) and f"'{field}'" in str(caught.value)


def test_the_teaching_layer_is_read_and_may_be_left_out(tmp_path, valid_case_data):
    case = mh.load_case("03")
    assert case.difficulty == "intermediate" and case.model_report is not None
    assert case.model_report.impression.startswith("Moderate right pleural effusion")
    assert [ref.url.split("/")[2] for ref in case.references][:2] == ["radiologyassistant.nl", "radiopaedia.org"]
    for name in ("difficulty", "objectives", "discussion_questions", "model_report", "references"):
        valid_case_data.pop(name)
    _write_case(tmp_path, valid_case_data)
    bare = mh.list_cases(tmp_path)[0]  # a teacher's own case file without the layer still loads
    assert (bare.difficulty, bare.objectives, bare.discussion_questions, bare.model_report, bare.references) == \
        (None, (), (), None, ())


def test_case_texts_say_what_the_films_show():
    def text(case_id: str) -> str:
        case = mh.load_case(case_id)
        parts = (case.answer_key.diagnosis, case.answer_key.certainty, *case.teaching_points)
        return " ".join(" ".join(parts).split())
    three, four = text("03"), text("04")
    assert "Right pleural effusion, moderate" in three and "Large right" not in three and "nothing is shifted" in three
    # the line: what is seen, and only candidates that enter a vein
    assert "hairpin at the right thoracic inlet" in three and "neck base" not in three
    assert "superior vena cava" in three and "two tubes side by side" in three
    assert "dual-lumen tunnelled venous catheter" in three
    assert "peritoneovenous shunt, a single tube, fits less well" in three
    assert "down the right chest wall" not in three and "ascites" not in three
    # a shunt from the brain is named only to be ruled out, with the reason the film gives
    assert "No limb runs up the neck, so a shunt from the brain (ventriculoperitoneal or ventriculoatrial) does " \
        "not fit" in three and "VP shunt" not in three
    catheter = next(f for f in mh.load_case("03").answer_key.findings if f.name == "catheter")
    assert not {"VP shunt", "shunt"} & set(catheter.synonyms) and "peritoneovenous shunt" in catheter.synonyms
    assert "surgical clips in the right axilla" in three and "malignancy" in three
    assert "no meniscus" in three and "flat, near-horizontal" in three and "medial right base" in three
    # the medial basal opacity is described hedged, as the key scores consolidation: absent, a hedge no invention
    assert "passive atelectasis" in three and "possible consolidation" in three
    key_03 = {f.name: f for f in mh.load_case("03").answer_key.findings}
    assert key_03["consolidation"].expected == "absent" and key_03["consolidation"].pertinent
    clips = key_03["surgical clips"]
    assert (clips.expected, clips.side) == ("present", "right") and "surgical clips in the right axilla" in three
    assert "itself a risk factor for venous thromboembolism" in three
    assert "465 / 838 = 0.55" in four and "oderate cardiomegaly" not in four
    assert "hairpin at the left thoracic inlet" in four and "neck base" not in four
    assert "upper-lobe diversion is equivocal" in four and "not clearly shown" in four
    assert "lateral to the aortic knob" in four and "granuloma" in four and "end-on" in four
    assert "tips lie" in four and "tip near the apex" not in four
    two = text("02")
    assert "left cardiophrenic angle" in two and "fat pad" in two and "Satisfaction of search" in two
    assert "previous films" in two and "lateral view" in two
    assert "pseudotumour" in two and "4.7 cm wide by 3 to 4 cm high" in two
    report_02 = mh.load_case("02").model_report
    assert report_02 is not None and report_02.recommendation.rstrip().endswith("record who was told, when and how.")
    recommendation = " ".join(report_02.recommendation.split())
    # a suspected new cancer is significant and unexpected, not an urgent (critical) result
    assert "Significant unexpected finding, a suspected new lung cancer" in recommendation
    assert "suspected-cancer alert pathway" in recommendation and "Urgent" not in recommendation
    assert "the ends are blunt, not tapering" in two
    five = text("05")
    assert "lung volumes look preserved" in five and "emphysema" in five and "thin-walled" in five
    assert "mid zones" in five and "both peripherally and in the parahilar regions" in five
    assert "subpleural-predominant needs CT" in five and "22 to 27 cm" in five
    assert "a pattern most in keeping with pulmonary fibrosis" in five and "lymphangitic carcinomatosis" in five
    assert "do not exclude idiopathic pulmonary fibrosis" in five and "spares volume" not in five
    report_05 = mh.load_case("05").model_report
    assert report_05 is not None and "pulmonary fibrosis" in report_05.impression
    fibrosis = next(f for f in mh.load_case("05").answer_key.findings if f.name == "pulmonary fibrosis")
    assert fibrosis.kind == "impression"
    six = mh.load_case("06")
    before_the_reveal = " ".join((six.title, six.slug, six.history, six.presenting_complaint, *six.red_flags,
                                  *six.review_checklist))
    assert six.title == "Heavy menstrual bleeding" and "fibroid" not in before_the_reveal.lower()
    assert any("PALM" in item for item in six.differential) and "suspicion" not in six.answer_key.diagnosis
    next_steps = {f.name: f for f in six.answer_key.findings if f.kind == "next step"}
    assert set(next_steps) == {"pelvic ultrasound", "MRI", "blood count (for anaemia)", "pregnancy test"}
    # a next step is a test: the blood count's terms name tests, not the anaemia it looks for
    blood = {_folded(t) for t in next_steps["blood count (for anaemia)"].synonyms}
    assert {_folded("ferritin"), _folded("iron studies")} <= blood
    assert not {_folded("anaemia"), _folded("anemia")} & blood
    assert any("leiomyoma" in ref.url for ref in six.references)
    assert mh.load_case("heavy-menstrual-bleeding") is not None and mh.load_case("06").id == "06"


def test_not_yaml_and_wrong_top_level(tmp_path):
    (tmp_path / "01_bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(mh.CaseError, match="01_bad.yaml"):
        mh.list_cases(tmp_path)
    (tmp_path / "01_bad.yaml").write_text("- a list\n")
    with pytest.raises(mh.CaseError, match="mapping"):
        mh.list_cases(tmp_path)


def test_cases_folder_from_environment(tmp_path, valid_case_data, monkeypatch):
    _write_case(tmp_path, valid_case_data)
    monkeypatch.setenv("MEDGEMMA_CASES_DIR", str(tmp_path))
    assert [case.slug for case in mh.list_cases()] == ["test-case"]


# ---------------------------------------------------------------- answer-key fields and terms


def _finding(name: str, synonyms: list[str], expected: str = "present", **extra) -> dict:
    return {"name": name, "synonyms": synonyms, "expected": expected, **extra}


def _case_error(tmp_path: Path, data: dict) -> str:
    path = _write_case(tmp_path, data)
    with pytest.raises(mh.CaseError) as caught:
        mh.list_cases(tmp_path)
    assert path.name in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize("first, second", [
    ("Effusion", "effusion"),                      # case does not matter
    ("air-space opacity", "Airspace Opacity"),     # neither do hyphens and spaces
    ("fluid  in the   pleura", "Fluid-in-the pleura"),
])
def test_a_term_two_findings_share_is_refused(tmp_path, valid_case_data, first, second):
    valid_case_data["answer_key"]["findings"] = [
        _finding("pleural effusion", [first]),
        _finding("pneumothorax", ["air in the pleural space"], "absent"),
        _finding("consolidation", [second], "absent"),
    ]
    message = _case_error(tmp_path, valid_case_data)
    assert "'answer_key.findings[2].synonyms'" in message
    assert "'pleural effusion'" in message and "'consolidation'" in message
    assert f"'{second}'" in message and f"'{first}'" in message
    assert "Keep the term in the one finding it means" in message


def test_a_finding_name_used_as_another_findings_synonym_is_refused(tmp_path, valid_case_data):
    valid_case_data["answer_key"]["findings"] = [
        _finding("cardiomegaly", ["enlarged heart"]),
        _finding("heart failure", ["Cardiomegaly"]),
    ]
    message = _case_error(tmp_path, valid_case_data)
    assert "'answer_key.findings[1].synonyms'" in message and "'Cardiomegaly'" in message
    valid_case_data["answer_key"]["findings"] = [
        _finding("enlarged heart", ["big heart"]),
        _finding("Enlarged-Heart", ["cardiomegaly"]),
    ]
    assert "'answer_key.findings[1].name'" in _case_error(tmp_path, valid_case_data)


def test_findings_never_scored_together_may_share_a_term(tmp_path, valid_case_data):
    valid_case_data["answer_key"]["findings"] = [
        _finding("uterine fibroid", ["fibroid"]),                                  # the history answer
        _finding("fibroid on ultrasound", ["fibroid"], shown_on=["ultrasound"]),   # a user's ultrasound
        _finding("fibroid on MRI", ["fibroid"], shown_on=["mri"]),                 # a user's MRI
    ]
    _write_case(tmp_path, valid_case_data)
    key = mh.list_cases(tmp_path)[0].answer_key
    assert [f.shown_on for f in key.findings] == [(), ("ultrasound",), ("mri",)]


def test_findings_on_overlapping_modalities_may_not_share_a_term(tmp_path, valid_case_data):
    valid_case_data["answer_key"]["findings"] = [
        _finding("well-defined margins", ["well-circumscribed"], shown_on=["ultrasound", "mri"]),
        _finding("T2 hypointense", ["low T2 signal", "Well Circumscribed"], shown_on=["MR"]),
    ]
    message = _case_error(tmp_path, valid_case_data)
    assert "'well-defined margins'" in message and "'T2 hypointense'" in message
    assert "'Well Circumscribed'" in message


def test_pertinent_defaults_to_true_and_parses(tmp_path, valid_case_data):
    findings = valid_case_data["answer_key"]["findings"]
    findings[1].pop("pertinent", None)
    oedema = next(index for index, item in enumerate(findings) if item["name"] == "pulmonary oedema")
    findings[oedema]["pertinent"] = False
    _write_case(tmp_path, valid_case_data)
    key = mh.list_cases(tmp_path)[0].answer_key
    assert (key.findings[1].expected, key.findings[1].pertinent) == ("absent", True)
    assert (key.findings[oedema].expected, key.findings[oedema].pertinent) == ("absent", False)
    assert all(f.pertinent for f in key.findings if f.expected == "present")


@pytest.mark.parametrize("value, problem", [
    (False, "present finding"),   # a present finding always counts
    ("no thanks", "true or false"),
    (1, "true or false"),
    (["yes"], "true or false"),
])
def test_pertinent_is_refused_on_a_present_finding_or_when_not_a_boolean(tmp_path, valid_case_data, value,
                                                                         problem):
    valid_case_data["answer_key"]["findings"][0]["pertinent"] = value  # the (present) effusion of case 03
    message = _case_error(tmp_path, valid_case_data)
    assert "'answer_key.findings[0].pertinent'" in message and problem in message


def test_shown_on_maps_the_words_people_use_to_one_modality(tmp_path, valid_case_data):
    findings = valid_case_data["answer_key"]["findings"]
    findings[0]["shown_on"] = ["US", "Magnetic Resonance"]
    findings[2]["shown_on"] = ["sonography", "MR"]
    _write_case(tmp_path, valid_case_data)
    key = mh.list_cases(tmp_path)[0].answer_key
    assert key.findings[0].shown_on == ("ultrasound", "mri")
    assert key.findings[2].shown_on == ("ultrasound", "mri")
    assert key.findings[1].shown_on == ()


@pytest.mark.parametrize("value, problem", [
    (["ultrasound", "thermography"], "'thermography', not a modality"),
    ("ultrasound", "must be a list"),
    ([""], "non-empty text"),
])
def test_shown_on_refuses_what_is_not_a_list_of_modalities(tmp_path, valid_case_data, value, problem):
    valid_case_data["answer_key"]["findings"][0]["shown_on"] = value
    message = _case_error(tmp_path, valid_case_data)
    assert "'answer_key.findings[0].shown_on" in message and problem in message


# ---------------------------------------------------------------- facts of the six case files


def _key(case_id: str) -> dict:
    return {f.name: f for f in mh.load_case(case_id).answer_key.findings}


def _folded(term: str) -> str:
    return "".join(re.findall(r"[a-z0-9]+", term.lower()))


def test_case_01_states_every_negative():
    assert all(f.expected == "absent" and f.pertinent and not f.shown_on for f in _key("01").values())


def test_case_02_scores_a_pneumonia_read_and_only_terms_that_mean_a_lung_mass():
    key = _key("02")
    assert (key["lung mass"].expected, key["consolidation"].expected) == ("present", "absent")
    assert [name for name, f in key.items() if f.expected == "absent" and f.pertinent] == \
        ["consolidation", "cavitation", "pleural effusion"]
    assert not key["pneumothorax"].pertinent and not key["cardiomegaly"].pertinent
    assert "pneumonia" not in key["consolidation"].synonyms  # a diagnosis, not a finding
    mass_terms = {_folded(t) for t in key["lung mass"].terms}
    for not_a_lung_mass in ("hilar enlargement", "enlarged hilum", "hilar mass", "rounded opacity", "tumour"):
        assert _folded(not_a_lung_mass) not in mass_terms
    case = mh.load_case("02")
    assert "whatever its margin" in " ".join(case.teaching_points)
    for restored in ("persistent fatigue", "decreased exercise tolerance", "denies significant chest pain"):
        assert restored in case.history and restored in " ".join(case.question.split())


def test_case_03_restores_the_negatives_and_owns_up_to_the_catheter():
    case, key = mh.load_case("03"), _key("03")
    for text in (case.history, case.question):
        assert "suddenly" in text and "dry cough" in text and "no fever, chills" in " ".join(text.split())
    assert key["pneumothorax"].pertinent and not key["pulmonary oedema"].pertinent
    certainty = " ".join(case.answer_key.certainty.split())
    assert "belongs to the source patient and the story does not mention it" in certainty
    assert "no sex" in certainty and "teaching scenario" in certainty


def test_case_04_keys_the_line_says_mild_and_drops_false_synonyms():
    case, key = mh.load_case("04"), _key("04")
    device = key["line or tube"]
    assert device.expected == "present" and {"catheter", "line"} <= set(device.synonyms)
    assert not {"chest drain", "shunt catheter"} & set(device.synonyms)  # types the film does not settle
    assert not key["pneumothorax"].pertinent
    terms = {_folded(t) for f in key.values() for t in f.terms}
    assert not {_folded("fluid overload"), _folded("prominent hila"), _folded("hilar prominence")} & terms
    key_text = " ".join((case.answer_key.diagnosis + " " + case.answer_key.certainty).split())
    assert "Mild cardiomegaly" in key_text and "left upper zone" in key_text
    assert not re.search(r"\b(marked|obvious)\b", key_text, re.IGNORECASE)
    for restored in ("fatigue", "at rest", "nocturnal cough", "denies chest pain, haemoptysis or high fever"):
        assert restored in " ".join(case.history.split())


def test_case_05_synonyms_describe_what_a_radiograph_shows():
    key = _key("05")
    terms = {_folded(t) for f in key.values() for t in f.terms}
    assert not {"uip", "usualinterstitialpneumonia", "honeycombing", "bibasilar", "bibasal"} & terms
    assert "bibasilar reticular" in key["lower-zone predominance"].synonyms
    assert key["lung mass"].pertinent and key["pleural effusion"].pertinent


def test_nih_cases_say_their_history_is_a_teaching_scenario_and_their_view():
    for case_id in ("02", "03", "04", "05"):
        case = mh.load_case(case_id)
        certainty = " ".join(case.answer_key.certainty.split())
        assert "teaching scenario, not the history of the person in the image" in certainty, case_id
        assert case.view == "PA" and "View Position" in certainty, case_id


def test_case_06_image_findings_are_read_off_the_users_own_image():
    case = mh.load_case("06")
    findings = case.answer_key.findings
    history = [f.name for f in findings if not f.shown_on]
    assert history == ["uterine fibroid", "pelvic ultrasound", "MRI", "blood count (for anaemia)", "pregnancy test"]
    on = {f.name: set(f.shown_on) for f in findings if f.shown_on}
    assert on["edge shadowing"] == on["peripheral Doppler flow"] == {"ultrasound"}
    assert on["T2 hypointense"] == {"mri"}
    assert on["well-defined margins"] == on["enlarged uterus"] == {"ultrasound", "mri"}
    assert all(f.expected == "present" for f in findings)
    diagnosis = " ".join(case.answer_key.diagnosis.split())
    assert "venetian" not in diagnosis.lower() and "assumes the image shows a fibroid" in diagnosis
    assert "do not apply" in case.answer_key.certainty


# ---------------------------------------------------------------- image sources


def _png_bytes(shade: int) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("L", (64, 48), shade).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def generated_case(tmp_path, monkeypatch):
    """Case 01 re-pointed at a generated image, with images/ moved to a temporary folder."""
    data = _png_bytes(90)
    image = dataclasses.replace(mh.load_case("01").image, file="generated.png",
                                sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    monkeypatch.setattr(cases, "IMAGES_DIR", tmp_path / "images")
    monkeypatch.delenv("MEDGEMMA_IMAGE_MIRROR", raising=False)
    return dataclasses.replace(mh.load_case("01"), image=image), data


def test_mirror_file_is_used_when_it_verifies(generated_case, tmp_path, monkeypatch):
    case, data = generated_case
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "generated.png").write_bytes(data)
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(mirror))
    assert case_images.case_image_path(case) == mirror / "generated.png"
    assert case_images.load_case_image(case).size == (64, 48)


def test_corrupt_or_wrong_mirror_file_is_refused(generated_case, tmp_path, monkeypatch):
    case, data = generated_case
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(mirror))
    for bad in (data[:-10], _png_bytes(200)):  # truncated; a different valid image under the same name
        (mirror / "generated.png").write_bytes(bad)
        with pytest.raises(mh.ImageError, match="sha256"):
            case_images.case_image_path(case)


def test_real_mirror_images_verify():
    folder = shared_images_dir()
    if folder is None:
        pytest.skip("the real case images are not on this machine; generated-image tests cover the logic")
    for case in mh.list_cases():
        if case.image:
            assert case_images.sha256_of(folder / case.image.file) == case.image.sha256


def _series_csv(folder: Path, rows: list[dict]) -> Path:
    import csv

    path = folder / "series.csv"
    with path.open("w", newline="") as table:
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_series_films_are_verified_like_case_images(tmp_path, monkeypatch):
    from medgemma_helpers import comparison

    films = mh.series_films()
    folder = shared_images_dir()
    if folder is not None:  # the real files, sha256-checked through the mirror
        assert all(case_images.sha256_of(folder / film.image.file) == film.image.sha256 for film in films)
    data = [_png_bytes(60), _png_bytes(120)]
    rows = [{"file": f"film{index}.png", "patient": "7", "follow_up": str(index), "nih_labels": "No Finding",
             "shows": "A test film.", "sha256": hashlib.sha256(body).hexdigest(), "size_bytes": str(len(body)),
             "url": f"https://example.org/film{index}.png", "licence": "test", "attribution": "test"}
            for index, body in enumerate(data)]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for row, body in zip(rows, data):
        (mirror / row["file"]).write_bytes(body)
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(mirror))
    listed = comparison.series_films(_series_csv(tmp_path, rows[::-1]))
    assert [film.follow_up for film in listed] == [0, 1]  # in follow-up order, whatever the row order
    assert comparison.series_image(listed[1]).size == (64, 48)
    (mirror / "film1.png").write_bytes(data[0])  # the wrong bytes under the right name
    with pytest.raises(mh.ImageError, match="sha256"):
        comparison.series_image(listed[1])


@pytest.mark.parametrize("change, problem", [
    (lambda row: row.update(sha256="abc"), "sha256"),
    (lambda row: row.update(url="http://example.org/x.png"), "https://"),
    (lambda row: row.update(file="../x.png"), "plain file name"),
    (lambda row: row.update(follow_up="first"), "whole numbers"),
    (lambda row: row.update(licence=""), "licence missing"),
    (lambda row: row.update(patient="8"), "one patient"),
])
def test_a_bad_series_row_is_refused_by_row(tmp_path, change, problem):
    from medgemma_helpers import comparison

    rows = [{"file": f"film{index}.png", "patient": "7", "follow_up": str(index), "nih_labels": "x", "shows": "x",
             "sha256": "0" * 64, "size_bytes": "10", "url": "https://example.org/x.png", "licence": "x",
             "attribution": "x"} for index in range(2)]
    change(rows[1])
    with pytest.raises(mh.CaseError, match=problem):
        comparison.series_films(_series_csv(tmp_path, rows))


class _Serve(http.server.BaseHTTPRequestHandler):
    body = b""
    declared_length: int | None = None

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(self.declared_length or len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_download_is_verified_and_written_atomically(generated_case, image_server):
    case, data = generated_case
    _Serve.body, _Serve.declared_length = data, None
    url = f"http://127.0.0.1:{image_server.server_address[1]}/generated.png"
    case = dataclasses.replace(case, image=dataclasses.replace(case.image, url=url))
    path = case_images.case_image_path(case)
    assert path.read_bytes() == data and _leftovers(path.parent) == ["generated.png"]
    # A corrupted local copy is replaced by a fresh, verified download.
    path.write_bytes(b"garbage")
    assert case_images.case_image_path(case).read_bytes() == data


def test_wrong_or_interrupted_download_leaves_nothing(generated_case, image_server):
    case, data = generated_case
    url = f"http://127.0.0.1:{image_server.server_address[1]}/generated.png"
    case = dataclasses.replace(case, image=dataclasses.replace(case.image, url=url))
    images_dir = cases.IMAGES_DIR
    _Serve.body, _Serve.declared_length = _png_bytes(10), None  # the wrong file
    with pytest.raises(mh.ImageError, match="sha256"):
        case_images.case_image_path(case)
    assert _leftovers(images_dir) == []
    _Serve.body, _Serve.declared_length = data[: len(data) // 2], len(data)  # the connection ends early
    with pytest.raises(mh.ImageError, match="interrupted"):
        case_images.case_image_path(case)
    assert _leftovers(images_dir) == []
    _Serve.body, _Serve.declared_length = data, None  # the next run starts clean and succeeds
    assert case_images.case_image_path(case).read_bytes() == data


# ---------------------------------------------------------------- regions: each present finding drawn on its film


def test_every_present_finding_of_the_films_has_a_region_on_the_keys_side():
    for case_id in ("02", "03", "04", "05"):
        case = mh.load_case(case_id)
        assert case.image is not None and case.image.size_px is not None
        width, height = case.image.size_px
        for finding in case.answer_key.findings:
            if finding.expected != "present" or finding.kind != "finding":
                assert not finding.regions, (case_id, finding.name)
                continue
            assert finding.regions, (case_id, finding.name)
            for x0, y0, x1, y1 in finding.regions:
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (case_id, finding.name)
            # the patient's right is the viewer's left: a right finding lies in the film's left half
            lefts = [box for box in finding.regions if box[2] <= width / 2]
            rights = [box for box in finding.regions if box[0] >= width / 2]
            if finding.side == "right":
                assert lefts == list(finding.regions), (case_id, finding.name)
            elif finding.side == "left":
                assert rights == list(finding.regions), (case_id, finding.name)
            elif finding.side == "bilateral":
                assert lefts and rights and len(lefts) + len(rights) == len(finding.regions), (case_id, finding.name)


def test_declared_film_sizes_match_the_sources_and_the_films():
    sizes = {case.image.file: case.image.size_px for case in mh.list_cases() if case.image}
    assert all(size is not None for size in sizes.values())
    folder = shared_images_dir()
    if folder is None:
        pytest.skip("the real case images are not on this machine")
    sources = {entry["file"]: entry for entry in json.loads((folder / "SOURCES.json").read_text())}
    for name, size in sizes.items():
        assert list(size) == sources[name]["image_size_px"], name
        with Image.open(folder / name) as film:
            assert film.size == size, name


def _effusion(data: dict) -> dict:
    return next(item for item in data["answer_key"]["findings"] if item["name"] == "pleural effusion")


@pytest.mark.parametrize("region, problem", [
    ([100, 490, 1100, 780], "off the 1024 x 1024 film"),
    ([-5, 490, 450, 780], "off the 1024 x 1024 film"),
    ([600, 490, 900, 780], "not wholly on the patient's right"),  # the viewer's right half: the patient's left
    ([300, 490, 700, 780], "not wholly on the patient's right"),  # across the midline
    ([100, 490, 450], "give [x0, y0, x1, y1]"),
    ([100, 490, 450, "780"], "give [x0, y0, x1, y1]"),
    ([100, 490, 450, 780.5], "give [x0, y0, x1, y1]"),
    ("right base", "give [x0, y0, x1, y1]"),
    ([450, 490, 100, 780], "x0 must be less than x1"),
    ([[100, 490, 450, 780], [100, 490, 450]], "give [x0, y0, x1, y1]"),
])
def test_a_bad_region_is_refused_naming_the_file_and_the_finding(tmp_path, valid_case_data, region, problem):
    _effusion(valid_case_data)["region"] = region
    message = _case_error(tmp_path, valid_case_data)
    assert ".region'" in message and "'pleural effusion'" in message and problem in message


def test_regions_need_the_film_size_a_present_finding_and_one_box_per_side_when_bilateral(tmp_path, valid_case_data):
    del valid_case_data["image"]["size_px"]
    assert "image.size_px" in _case_error(tmp_path, valid_case_data)
    valid_case_data["image"]["size_px"] = [1024, "1024"]
    assert "'image.size_px'" in _case_error(tmp_path, valid_case_data)
    valid_case_data["image"]["size_px"] = [1024, 1024]
    pneumothorax = next(item for item in valid_case_data["answer_key"]["findings"] if item["name"] == "pneumothorax")
    pneumothorax["region"] = [100, 100, 300, 300]
    assert "absent" in _case_error(tmp_path, valid_case_data)
    del pneumothorax["region"]
    effusion = _effusion(valid_case_data)
    effusion["side"] = "bilateral"
    effusion["region"] = [100, 490, 450, 780]
    assert "one box wholly on each side" in _case_error(tmp_path, valid_case_data)
    effusion["region"] = [[100, 490, 450, 780], [600, 490, 950, 780]]
    _write_case(tmp_path, valid_case_data)
    [effusion_read] = [f for f in mh.list_cases(tmp_path)[0].answer_key.findings if f.name == "pleural effusion"]
    assert effusion_read.regions == ((100, 490, 450, 780), (600, 490, 950, 780))


def test_a_left_finding_is_refused_on_the_viewers_left(tmp_path, valid_case_data):
    effusion = _effusion(valid_case_data)
    effusion["side"] = "left"  # the key's region sits in the viewer's left half: the patient's right
    message = _case_error(tmp_path, valid_case_data)
    assert "not wholly on the patient's left" in message and "'pleural effusion'" in message
    effusion["region"] = [600, 490, 950, 780]
    _write_case(tmp_path, valid_case_data)
    assert mh.list_cases(tmp_path)[0].answer_key.findings[0].side == "left"


def test_a_kind_other_than_finding_impression_or_next_step_is_refused(tmp_path, valid_case_data):
    _effusion(valid_case_data)["kind"] = "diagnosis"
    message = _case_error(tmp_path, valid_case_data)
    assert ".kind'" in message and "next step" in message
