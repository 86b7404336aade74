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
from medgemma_helpers import quizzes as teaching
from medgemma_helpers import reports, walkthrough
from medgemma_helpers.case_view import answer_key_html, answer_key_text
from medgemma_helpers.render import markdown_to_safe_html

RESIDENT_READ = "No pneumothorax. <b>No</b> pleural effusion. Heart size normal; possible consolidation."


@pytest.fixture
def case01(with_cases):
    return mh.load_case("01")


def test_reveal_then_keep_shows_both_reads_side_by_side_with_concordance(case01, tiny_model):
    quiz = teaching.Quiz(case01, tiny_model, max_new_tokens=16, use_widgets=True)
    assert quiz.widget is not None and quiz.result.value == ""
    quiz.textarea.value = RESIDENT_READ
    quiz.button.click()  # the real on_click callback, without a browser
    first_look = quiz.result.value  # stage 1: both reads as text, nothing scored
    assert "&lt;b&gt;No&lt;/b&gt; pleural effusion" in first_look and "<b>No</b>" not in first_look
    assert "mh-concordance" not in first_look and "Answer key" not in first_look
    quiz.keep_button.click()
    shown = quiz.result.value
    assert shown.count("mh-concordance") == 2 and "Your read" in shown and "MedGemma" in shown
    assert "&lt;b&gt;No&lt;/b&gt; pleural effusion" in shown and "<b>No</b>" not in shown
    assert "Answer key" in shown and quiz.button.disabled and quiz.keep_button.disabled
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
    assert "quiz.reveal" in out and "quiz.keep()" in out and "The read shown to you:" in out
    assert "Answer key" not in out and "agrees" not in out
    quiz.keep()
    out = capsys.readouterr().out
    assert "Your read: " in out and "MedGemma: " in out and "Answer key" in out


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
        # an impression or a next step is checked but scored apart from the findings
        scored = [f for f in key if f.kind == "finding"]
        assert sum(f.expected == "present" or f.pertinent for f in scored) <= r.total <= len(scored)
        # the checks behind the score travel with it, for the kinds of error and the wrong sides
        assert [c.finding for c in r.checks] == [f.name for f in key] and mh.concordance_score(r.checks) == \
            (r.agreeing, r.total)
    paths = mh.write_summary(results, tmp_path)
    rows = list(csv.DictReader(paths[0].open()))
    assert [row["case"] for row in rows] == ["01", "02", "03", "04", "05", "06"]
    assert [int(row["missed"]) for row in rows] == [r.errors.missed for r in results]
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
        _ = upload.image
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
    assert path == Path("handouts") / "06_heavy-menstrual-bleeding_handout.html" and path.is_file()
    assert mh.check_findings("Uterine fibroids are likely.", "06")[0].status == "present"  # a case id works too


# ---------------------------------------------------------------- one model read per notebook (reveal.CaseSession)


def _live_kernel(monkeypatch: pytest.MonkeyPatch):
    """Run as in a live notebook kernel, with read first on; returns the reveal module."""
    from medgemma_helpers import reveal

    monkeypatch.setattr(reveal, "in_notebook", lambda: True)
    monkeypatch.delenv(reveal.SHOW_ALL_ENV, raising=False)
    return reveal


def _session_in_a_live_kernel(monkeypatch: pytest.MonkeyPatch, case_id: str = "t1"):
    return _live_kernel(monkeypatch).CaseSession(case_id)


def test_asking_again_for_the_same_read_reuses_it_and_a_new_request_replaces_it(monkeypatch):
    session = _session_in_a_live_kernel(monkeypatch)
    renders: list[str] = []
    session.on_new_read = lambda: renders.append("re-render")
    calls: list[str] = []

    def work(label):
        def run(progress):
            calls.append(label)
            progress("x" * len(label))
            return label
        return run

    first = session.ask(("01", "prompt A"), work("first read"))
    assert first.result(timeout=10) == "first read" and renders == []  # the first read is not a change
    assert session.progress == [len("first read")]  # characters written so far, for the progress line
    assert session.ask(("01", "prompt A"), work("never run")) is first
    second = session.ask(("01", "prompt B"), work("edited prompt"))
    assert second is not first and second.result(timeout=10) == "edited prompt"
    assert calls == ["first read", "edited prompt"] and renders == ["re-render"]  # the quiz shows the new read


def test_a_failed_read_is_asked_for_again(monkeypatch):
    session = _session_in_a_live_kernel(monkeypatch)

    def fail(progress):
        raise RuntimeError("out of memory")

    failed = session.ask(("01", "p"), fail)
    with pytest.raises(RuntimeError):
        failed.result(timeout=10)
    retry = session.ask(("01", "p"), lambda progress: "answer")
    assert retry is not failed and retry.result(timeout=10) == "answer"


def test_progress_starts_from_nothing_for_each_new_read(monkeypatch):
    import threading

    session = _session_in_a_live_kernel(monkeypatch)
    session.ask(("01", "a"), lambda progress: progress("twelve chars")).result(timeout=10)
    assert session.progress == [12]
    release = threading.Event()
    pending = session.ask(("01", "b"), lambda progress: release.wait(10))
    assert session.progress == [0]  # nothing of the new read written yet
    release.set()
    pending.result(timeout=10)


def test_reads_run_one_at_a_time_in_the_background(monkeypatch):
    import threading

    # Two reads at once would need twice the GPU memory: the second waits for the first.
    first_session = _session_in_a_live_kernel(monkeypatch, "t1")
    second_session = _session_in_a_live_kernel(monkeypatch, "t2")
    release, order = threading.Event(), []

    def slow(progress):
        order.append("first starts")
        release.wait(10)
        order.append("first ends")

    first = first_session.ask(("01", "p"), slow)
    second = second_session.ask(("02", "p"), lambda progress: order.append("second starts"))
    assert not second.done()
    release.set()
    first.result(timeout=10), second.result(timeout=10)
    assert order == ["first starts", "first ends", "second starts"]


def test_outputs_wait_for_the_reveal_only_while_hidden(monkeypatch):
    from medgemma_helpers import reveal

    session = _session_in_a_live_kernel(monkeypatch)
    shown: list[str] = []
    session.when_revealed(lambda: shown.append("model read"))
    session.when_revealed(lambda: shown.append("answer key"))
    assert shown == []  # hidden until the resident commits a read
    session.reveal("  ")
    assert shown == ["model read", "answer key"] and session.read is None  # a blank read counts as skipped
    session.when_revealed(lambda: shown.append("later output"))
    assert shown[-1] == "later output"
    monkeypatch.setattr(reveal, "in_notebook", lambda: False)  # a terminal or the headless run: nothing hides
    outside = reveal.CaseSession("t3")
    outside.when_revealed(lambda: shown.append("at once"))
    assert shown[-1] == "at once"


def test_a_placeholder_is_a_replaceable_notice(monkeypatch):
    from medgemma_helpers import reveal

    shown: list[tuple] = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **options: shown.append((objects, options)))
    reveal.placeholder("MedGemma's read appears after you commit yours.")
    ((objects, options),) = shown
    (html,) = objects
    assert "MedGemma's read appears after you commit yours." in html.data and "mh-hidden" in html.data
    assert options == {"display_id": True}  # a handle, so the reveal can replace the notice in place


def _findings(text: str) -> mh.Findings:
    return mh.Findings(text=text, thinking="", prompt="p", model_name="stand-in", prompt_tokens=1, new_tokens=1,
                       seconds=1.0)


def test_the_answer_key_outside_a_notebook_prints_both_reads_against_the_key(case01, capsys):
    from medgemma_helpers import reveal
    from medgemma_helpers.case_view import answer_key_text

    reveal.forget_sessions()
    model_read = _findings("No pneumothorax. Heart size is within normal limits.")
    checks = mh.show_answer_key("01", model_read, "There is a right pneumothorax.")
    out = capsys.readouterr().out
    assert out.index("Your read:") < out.index("MedGemma:") < out.index(answer_key_text(case01))
    your_part, model_part = out.split("MedGemma:")[0], out.split("MedGemma:")[1]
    assert "pneumothorax: read present · right, key absent" in your_part  # the side as read
    assert "pneumothorax: read absent, key absent" in model_part
    assert [c.finding for c in checks] == [c.finding for c in mh.check_findings(model_read.text, case01)]
    assert {c.finding: c.status for c in checks}["pneumothorax"] == "absent"  # the model's read is scored
    assert mh.show_answer_key(case01) == [] and "Your read:" not in capsys.readouterr().out  # key alone


def test_the_answer_key_uses_the_notebooks_one_read_and_the_committed_read(case01, capsys):
    from concurrent.futures import Future

    from medgemma_helpers import reveal

    reveal.forget_sessions()
    state = reveal.session("01")
    latest = Future()
    latest.set_result(_findings("There is a large right pneumothorax."))
    state.future, state.read = latest, "Heart size is normal."
    # An older answer passed in is replaced by the Ask cell's latest read; the quiz's read is used when none given.
    checks = mh.show_answer_key("01", _findings("No pneumothorax."))
    out = capsys.readouterr().out
    assert {c.finding: c.status for c in checks}["pneumothorax"] == "present"
    assert "Your read:" in out and "cardiomegaly: read absent" in out.split("MedGemma:")[0]
    failed = Future()
    failed.set_exception(RuntimeError("out of memory"))
    state.future = failed  # a failed read is not shown: the answer given here is
    checks = mh.show_answer_key("01", _findings("No pneumothorax."), "   ")
    assert {c.finding: c.status for c in checks}["pneumothorax"] == "absent"
    assert "Your read:" in capsys.readouterr().out  # a blank read here falls back to the committed one
    reveal.forget_sessions()


def test_the_answer_key_waits_for_the_reveal_in_a_live_kernel(case01, monkeypatch, capsys):
    from medgemma_helpers import reveal

    reveal.forget_sessions()
    monkeypatch.setattr(reveal, "in_notebook", lambda: True)
    monkeypatch.delenv(reveal.SHOW_ALL_ENV, raising=False)
    updates: list[str] = []

    class Handle:
        def update(self, html):
            updates.append(html.data)

    notices: list[str] = []
    monkeypatch.setattr(reveal, "placeholder", lambda notice: notices.append(notice) or Handle())
    assert mh.show_answer_key("01", _findings("No pneumothorax.")) == []
    assert notices == [reveal.HIDDEN_KEY] and updates == [] and capsys.readouterr().out == ""
    reveal.session("01").reveal("<b>Right</b> pneumothorax.")
    (filled,) = updates
    assert case01.answer_key.findings[0].name in filled
    assert "&lt;b&gt;Right&lt;/b&gt;" in filled and "<b>Right</b>" not in filled
    reveal.forget_sessions()


def test_an_answer_given_in_the_cell_becomes_the_notebooks_read(monkeypatch):
    from concurrent.futures import Future

    session = _session_in_a_live_kernel(monkeypatch)
    renders: list[str] = []
    session.on_new_read = lambda: renders.append("re-render")
    session.record(("01", "a"), "first answer")
    assert session.future.result() == "first answer" and renders == []  # the first read is not a change
    kept = session.future
    session.record(("01", "a"), "the same request again")
    assert session.future is kept  # a finished read of the same request is kept
    session.record(("01", "b"), "edited prompt")
    assert session.future.result() == "edited prompt" and renders == ["re-render"]
    failed: Future = Future()
    failed.set_exception(RuntimeError("out of memory"))
    session.future = failed
    session.record(("01", "b"), "answered after all")
    assert session.future.result() == "answered after all" and renders == ["re-render"]  # same request: no change


def test_each_case_has_its_own_session():
    from medgemma_helpers import reveal

    reveal.forget_sessions()
    assert reveal.session("01") is reveal.session("01") and reveal.session("01") is not reveal.session("02")
    assert reveal.session("02").case_id == "02"
    reveal.forget_sessions()


def test_the_quiz_reads_its_own_question_in_the_background_and_counts_progress(case01, tiny_model, monkeypatch):
    reveal = _live_kernel(monkeypatch)
    reveal.forget_sessions()
    question = "Is there a pneumothorax on this film? Answer in one line."
    quiz = teaching.Quiz(case01, tiny_model, prompt=question, max_new_tokens=6, use_widgets=False)
    session = reveal.session("01")
    assert quiz.session is session and session.future is not None
    read = session.future.result(timeout=300)
    assert question in read.prompt
    assert session.key == walkthrough.case_request(case01, prompt=question, max_new_tokens=6).key(case01)
    assert session.progress[0] == len(read.text) > 0  # streamed: the quiz's progress line counted it
    assert "mh-concordance" not in quiz.reveal("No pneumothorax.")
    assert quiz.findings is read  # the reveal shows the read made in the background, not a new one
    assert quiz.keep().count("mh-concordance") == 2
    reveal.forget_sessions()


def test_the_quiz_uses_the_model_it_was_given(case01, tiny_model, monkeypatch, capsys):
    from medgemma_helpers import access

    def no_default_model():
        raise AssertionError("the quiz fell back on the notebook's default model")

    monkeypatch.setattr(access, "latest", lambda: None)  # no notebook-wide model to fall back on
    monkeypatch.setattr(walkthrough, "default_model", no_default_model)
    quiz = mh.quiz(case01, tiny_model, max_new_tokens=6)
    assert capsys.readouterr().out == ("Write your own read first, then call quiz.reveal('your findings and "
                                       "impression') to see the read shown to you; then quiz.keep() or "
                                       "quiz.revise('...') to see the answer key.\n")
    quiz.reveal("No pneumothorax.")
    assert quiz.findings is not None and quiz.findings.model_name == tiny_model.name


def test_a_quiz_without_widgets_says_how_to_reveal_and_where_the_read_was_saved(case01, tiny_model, tmp_path,
                                                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    quiz = mh.quiz(case01, tiny_model, max_new_tokens=6)
    assert quiz._repr_mimebundle_() == {"text/plain": "Quiz for case 01: call quiz.reveal('your read')"}
    quiz.reveal("No pneumothorax.", alias="Resident A")
    out = capsys.readouterr().out
    assert re.search(r"^Saved your read as Resident A to .+ for the class review\.$", out, re.MULTILINE)


def test_the_quiz_widgets_are_laid_out_for_reading(case01, tiny_model):
    quiz = teaching.Quiz(case01, tiny_model, max_new_tokens=6, use_widgets=True)
    assert quiz.findings is None and quiz.read == ""  # nothing read or revealed yet
    assert quiz.textarea.layout.width == "100%" and quiz.textarea.layout.height == "120px"
    assert quiz.alias_box.layout.width == "60%"
    assert quiz.button.tooltip == "Commit your read, then see the read shown to you and decide"
    assert quiz.skip_button.tooltip == "Show MedGemma's read and the answer key without a read of your own"
    # while the read shown is prepared: a neutral line, the same for MedGemma's read and a teacher's
    quiz._show_progress("**Findings:** <b>so far</b>")
    assert quiz.result.value == "<p><i>Preparing the read shown to you… (27 characters)</i></p>"


def _table_rows(page: str, title: str) -> dict[str, list[str]]:
    """The rows of the concordance table with this title: finding -> its cells."""
    table = page.split(f">{title}</h4>")[1].split("</table>")[0]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]]
    return {cells[0]: cells[1:] for cells in rows}


def test_the_comparison_scores_each_read_and_shows_the_key_only_when_asked(case01):
    page = teaching.comparison_html(case01, _findings("Large right pneumothorax."), "No pneumothorax.")
    assert _table_rows(page, "Your read vs the answer key")["pneumothorax"][1] == "absent"
    assert _table_rows(page, "MedGemma vs the answer key")["pneumothorax"][1] == "present · right · large"
    assert answer_key_html(case01) in page
    assert "<blockquote style='overflow-wrap:anywhere'>No pneumothorax.<br>Heart normal.</blockquote>" in \
        teaching.comparison_html(case01, None, "No pneumothorax.\nHeart normal.")
    assert answer_key_html(case01) not in teaching.comparison_html(case01, None, "No pneumothorax.", with_key=False)


def test_the_text_comparison_marks_unscored_findings_and_ends_with_the_key(with_cases):
    case = mh.load_case("02")  # pneumothorax is not a pertinent negative there
    text = teaching.comparison_text(case, None, "A mass is seen.")
    assert "  - pneumothorax: not mentioned, key absent (not pertinent): – not scored (not a pertinent " \
           "negative)\n" in text
    # the key may give the mass a side and site; a read that gives none still agrees (the flag says so)
    assert re.search(r"\n  - lung mass: read present, key present[^\n]*: ✓ agrees", text)
    assert text.endswith("\n\n" + answer_key_text(case))
    skipped = teaching.comparison_text(case, _findings("A right upper lobe mass."), None)
    assert "Your read" not in skipped and "MedGemma: " in skipped and "  - lung mass: read present" in skipped


def test_a_read_of_ones_own_image_is_scored_on_what_that_image_can_show(with_cases, tiny_model, monkeypatch,
                                                                       capsys):
    case = mh.load_case("06")
    quiz = teaching.Quiz(case, tiny_model, use_widgets=True)
    quiz.session.image_modality = "ultrasound"
    quiz.findings = _findings("A fibroid with edge shadowing.")
    quiz.session.read = "A fibroid with edge shadowing."
    scored = _table_rows(quiz._key_markup(), "Your read vs the answer key")
    assert "edge shadowing" in scored and "T2 hypointense" not in scored
    mh.show_answer_key(case, _findings("A fibroid with edge shadowing."), "A fibroid with edge shadowing.")
    out = capsys.readouterr().out
    assert "edge shadowing: read present" in out and "T2 hypointense" not in out.split("Answer key")[0]
    quiz.close()


def test_a_quiz_outside_a_notebook_asks_its_own_question_at_the_reveal(case01, tiny_model, capsys):
    from medgemma_helpers import reveal

    reveal.forget_sessions()  # a fresh kernel: no read asked for yet (an earlier one would be the notebook's read)
    question = "Describe the heart size only, in one line."
    quiz = mh.quiz(case01, tiny_model, prompt=question, max_new_tokens=6)
    quiz.reveal("Heart size normal.")
    assert quiz.findings is not None and question in quiz.findings.prompt
