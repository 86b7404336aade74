"""Teaching mode: the quiz widget's callbacks, structured reads, handouts and the all-cases summary."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

import pytest
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import quizzes as teaching, reports, walkthrough
from medgemma_helpers.render import markdown_to_safe_html

RESIDENT_READ = "No pneumothorax. <b>No</b> pleural effusion. Heart size normal; possible consolidation."


@pytest.fixture
def case01(with_cases):
    return mh.load_case("01")


def test_reveal_button_shows_both_reads_side_by_side_with_concordance(case01, tiny_model):
    quiz = teaching.Quiz(case01, tiny_model, max_new_tokens=16, use_widgets=True)
    assert quiz.widget is not None and quiz.result.value == ""
    quiz.textarea.value = RESIDENT_READ
    quiz.button.click()  # the real on_click callback, without a browser
    shown = quiz.result.value
    assert shown.count("mh-concordance") == 2 and "Your read" in shown and "MedGemma" in shown
    assert "&lt;b&gt;No&lt;/b&gt; pleural effusion" in shown and "<b>No</b>" not in shown
    assert "Answer key" in shown and not quiz.button.disabled
    # The resident's read is scored: pneumothorax and effusion denied (agree), consolidation hedged.
    checks = {c.finding: c.status for c in mh.check_findings(RESIDENT_READ, case01)}
    assert checks["pneumothorax"] == "absent" and checks["pleural effusion"] == "absent"
    assert checks["consolidation"] == "uncertain"
    assert quiz.findings is not None and markdown_to_safe_html(quiz.findings.text) in shown


def test_rerunning_the_quiz_cell_starts_afresh(case01, tiny_model, monkeypatch):
    monkeypatch.setattr(teaching, "in_notebook", lambda: True)  # the quiz builds its widgets as in a kernel
    first = mh.quiz(case01, tiny_model, max_new_tokens=8)
    first.textarea.value = "draft"
    second = mh.quiz(case01, tiny_model, max_new_tokens=8)
    assert first.widget is None  # closed, with its callbacks
    assert second.widget is not None and second.read == "" and second.result.value == ""


def test_without_widgets_the_quiz_falls_back_to_text(case01, tiny_model, capsys):
    quiz = mh.quiz(case01, tiny_model, max_new_tokens=8)  # not in a notebook here
    assert quiz.widget is None
    quiz.reveal("No pneumothorax.")
    out = capsys.readouterr().out
    assert "quiz.reveal" in out and "Your read: " in out and "MedGemma: " in out and "Answer key" in out


def test_run_case_repeats_are_served_from_memory(case01, tiny_model):
    first = mh.run_case(case01, tiny_model, max_new_tokens=12, stream=False)
    seen = []
    again = mh.run_case(case01, tiny_model, max_new_tokens=12, on_text=seen.append)
    assert again is first and seen == [first.text]
    other = mh.run_case(case01, tiny_model, max_new_tokens=12, stream=False, prompt="Is the heart enlarged?")
    assert other is not first


REPORT = """<unused94>thought
checking<unused95>**Airway:** Trachea midline.
**Lungs and pleura:** Clear lungs. No effusion.
3. Heart: Normal size.
Diaphragm: Normal contour.
Bones: No fracture.
- Impression: Normal chest radiograph.
"""


def test_structured_read_sections_are_parsed():
    report = reports.parse_report(REPORT)
    assert list(report) == list(reports.REPORT_SECTIONS)
    assert report["Airway"] == "Trachea midline."
    assert report["Lungs and pleura"] == "Clear lungs. No effusion."
    assert report["Heart and mediastinum"] == "Normal size."
    assert report["Bones and soft tissues"] == "No fracture."
    assert report["Lines and devices"] == ""  # not reported
    assert report["Impression"] == "Normal chest radiograph."
    assert "checking" not in " ".join(report.values())
    markup = reports.report_html(report)
    assert "not reported" in markup and "Trachea midline." in markup


def test_structured_prompt_asks_for_every_heading(case01):
    prompt = mh.structured_prompt(case01)
    assert prompt.startswith(case01.question)
    assert all(f"{section}:" in prompt for section in reports.REPORT_SECTIONS)


def test_handout_is_self_contained_and_escapes_model_text(case01, tmp_path):
    findings = mh.Findings(text="Right effusion. <script>alert(1)</script>", thinking="", prompt=case01.question,
                           model_name="tiny", prompt_tokens=10, new_tokens=5, seconds=0.5)
    path = mh.export_handout(case01, findings, tmp_path, resident_read="No effusion <img src=x>")
    assert path.name == "01_standard-chest-xray_handout.html"
    page = path.read_text()
    embedded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert embedded and Image.open(io.BytesIO(base64.b64decode(embedded.group(1)))).size[0] > 100
    assert "<script>" not in page and "&lt;script&gt;" in page and "<img src=x>" not in page
    assert "not a diagnostic tool" in page and case01.image.attribution.split(",")[0] in page
    assert case01.teaching_points[0][:40] in page and "mh-concordance" in page
    assert not re.search(r"(src|href)=['\"]https?:", page)  # nothing fetched from elsewhere
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_handout_for_the_case_without_an_image(with_cases, tmp_path):
    case = mh.load_case("06")
    path = mh.export_handout(case, None, tmp_path / "fibroid.html")
    assert "data:image/png" not in path.read_text() and case.history[:30] in path.read_text()
    with pytest.raises(mh.MedGemmaError, match=".html"):
        mh.export_handout(case, None, tmp_path / "fibroid.pdf")


def test_all_cases_summary_in_one_run(with_cases, tiny_model, tmp_path):
    results = mh.run_all_cases(tiny_model, max_new_tokens=8, handouts=tmp_path / "handouts")
    assert [r.case_id for r in results] == ["01", "02", "03", "04", "05", "06"]
    assert all(r.new_tokens == 8 and r.seconds > 0 for r in results)
    for r in results:  # every present finding and pertinent negative is scored; others only when mentioned
        key = [f for f in mh.load_case(r.case_id).answer_key.findings if not f.shown_on]
        assert sum(f.expected == "present" or f.pertinent for f in key) <= r.total <= len(key)
    paths = mh.write_summary(results, tmp_path)
    rows = list(csv.DictReader(paths[0].open()))
    assert [row["case"] for row in rows] == ["01", "02", "03", "04", "05", "06"]
    assert Image.open(paths[1]).format == "PNG"
    assert "mh-summary" in paths[2].read_text()
    assert len(list((tmp_path / "handouts").glob("*_handout.html"))) == 6
    walkthrough.forget_answers()


def test_upload_widget_reads_png_and_dicom(tmp_path):
    import datetime

    from pydicom.data import get_testdata_file

    NOW = datetime.datetime.now(datetime.timezone.utc)
    upload = mh.upload_image()
    with pytest.raises(mh.ImageError, match="No image"):
        upload.image
    buffer = io.BytesIO()
    Image.new("L", (20, 10), 99).save(buffer, "PNG")
    upload.widget.value = ({"name": "mine.png", "type": "image/png", "size": len(buffer.getvalue()),
                            "content": memoryview(buffer.getvalue()), "last_modified": NOW},)
    assert upload.image.size == (20, 10) and upload.image.mode == "RGB"
    dicom = open(get_testdata_file("CT_small.dcm"), "rb").read()
    upload.widget.value = ({"name": "ct.dcm", "type": "", "size": len(dicom), "content": memoryview(dicom),
                            "last_modified": NOW},)
    assert upload.image.size == (128, 128)


def test_remembered_answers_are_per_model_image_and_prompt(case01, tiny_model, tiny_model_dir):
    import torch

    strip = Image.new("L", (100, 200), 50)
    turned = Image.frombytes("L", (200, 100), strip.tobytes())  # the same bytes in another shape
    first = mh.run_case(case01, tiny_model, image=strip, max_new_tokens=6, stream=False)
    assert mh.run_case(case01, tiny_model, image=strip, max_new_tokens=6, stream=False) is first
    assert mh.run_case(case01, tiny_model, image=turned, max_new_tokens=6, stream=False) is not first
    other_model = mh.load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    assert mh.run_case(case01, other_model, image=strip, max_new_tokens=6, stream=False) is not first
    walkthrough.forget_answers()
    assert mh.run_case(case01, tiny_model, image=strip, max_new_tokens=6, stream=False) is not first


def test_loading_a_model_again_makes_it_the_default(tiny_model_dir, tiny_model):
    import torch

    from medgemma_helpers.model import default_model

    mh.load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    assert default_model() is not tiny_model
    assert mh.load_model(str(tiny_model_dir) + "/", device="cpu") is tiny_model  # the same folder, spelt otherwise
    assert default_model() is tiny_model


def test_handout_into_a_new_folder_named_with_a_slash(with_cases, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = mh.export_handout("06", None, "handouts/")
    assert path == Path("handouts") / "06_uterine-fibroid_handout.html" and path.is_file()
    assert mh.check_findings("Uterine fibroids are likely.", "06")[0].status == "present"  # a case id works too
