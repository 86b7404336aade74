"""A case walkthrough: show the case, ask MedGemma, reveal the answer key. Notebook and terminal alike."""

from __future__ import annotations

import base64
import io
import textwrap
import threading
import weakref
import concurrent.futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from .case_images import load_case_image
from .cases import Case, load_case
from .generate import DEFAULT_MAX_NEW_TOKENS, THINKING_MAX_NEW_TOKENS, Findings, analyze, thinking_likely
from .images import load_image, pad_square
from .model import default_model
from . import reveal  # noqa: I001 - the read-first state
from .render import DISCLAIMER, esc, findings_html, in_notebook, show_findings, show_html

CHEST_MODALITY_WORDS = ("chest", "x-ray", "radiograph", "cxr")


def _png_of(image: Image.Image, caption: str) -> bytes:
    """The image drawn with matplotlib (grey, no axes) and its attribution underneath, as PNG bytes."""
    from matplotlib.figure import Figure  # no pyplot: works without any display backend

    width, height = image.size
    figure = Figure(figsize=(5.0, 5.0 * height / width + 0.6), dpi=100)
    axes = figure.add_axes((0.0, 0.6 / (5.0 * height / width + 0.6), 1.0, 1.0 - 0.6 / (5.0 * height / width + 0.6)))
    axes.imshow(image, cmap="gray")
    axes.set_axis_off()
    figure.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 95)[:3]), fontsize=6, va="bottom", color="#444")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _history_card_html(case: Case) -> str:
    patient = ", ".join(str(part) for part in (f"{case.patient.age}-year-old" if case.patient.age else None,
                                              case.patient.sex) if part)
    def bullets(items: tuple[str, ...]) -> str:
        return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"

    return (
        f"<div style='flex:1;min-width:260px'><h3>Case {esc(case.id)}: {esc(case.title)}</h3>"
        f"<p><b>{esc(case.modality)}</b>, {esc(case.view)}{' · ' + esc(patient) if patient else ''}</p>"
        f"<p><b>Presenting complaint.</b> {esc(case.presenting_complaint)}</p>"
        f"<p><b>History.</b> {esc(case.history)}</p>"
        f"<p><b>Red flags</b></p>{bullets(case.red_flags)}"
        f"<p><b>Differential</b></p>{bullets(case.differential)}"
        f"<details><summary><b>Systematic review checklist</b></summary>{bullets(case.review_checklist)}</details>"
        "</div>"
    )


def _attribution(case: Case) -> str:
    if case.image is None:
        return ""
    return f"Image: {case.image.attribution} Licence: {case.image.licence}."


class CaseView:
    """What show_case displays: HTML (image beside the history card) with a PNG of the image alongside."""

    def __init__(self, case: Case, image: Image.Image | None):
        self.case = case
        self.image = image
        # The PNG output carries the attribution inside it; the HTML view shows it as a readable caption.
        self.png = _png_of(image, _attribution(case)) if image is not None else None
        self.html_png = _png_of(image, "") if image is not None else None

    def _repr_png_(self) -> bytes | None:
        return self.png

    def _repr_html_(self) -> str:
        picture = ""
        if self.html_png is not None:
            encoded = base64.b64encode(self.html_png).decode("ascii")
            picture = (f"<figure style='flex:1;min-width:260px;max-width:520px;margin:0'>"
                       f"<img alt='Case {esc(self.case.id)} image' style='width:100%' src='data:image/png;base64,{encoded}'/>"
                       f"<figcaption style='font-size:80%;color:#555'>{esc(_attribution(self.case))}</figcaption></figure>")
        elif self.case.image is None:
            picture = ("<div style='flex:1;min-width:200px;color:#555'><i>No openly licensed image exists for this "
                       "case: it runs as a history-and-reasoning case, or on your own de-identified image.</i></div>")
        return f"<div style='display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start'>{picture}{_history_card_html(self.case)}</div>"

    def __repr__(self) -> str:
        return case_text(self.case)


def case_text(case: Case) -> str:
    """The case as plain text for a terminal."""
    patient = " ".join(str(p) for p in (case.patient.age and f"{case.patient.age}-year-old", case.patient.sex) if p)
    lines = [f"Case {case.id}: {case.title}", f"{case.modality}, {case.view}" + (f"; {patient}" if patient else ""),
             "", f"Presenting complaint: {case.presenting_complaint}", f"History: {case.history}", "", "Red flags:"]
    lines += [f"  - {item}" for item in case.red_flags] + ["Differential:"]
    lines += [f"  - {item}" for item in case.differential]
    if case.image is not None:
        lines += ["", _attribution(case)]
    return "\n".join(lines)


def _resolve(case: Case | str | int) -> Case:
    return case if isinstance(case, Case) else load_case(case)


def _is_chest_radiograph(case: Case) -> bool:
    label = f"{case.modality} {case.title}".lower()
    return any(word in label for word in CHEST_MODALITY_WORDS)


def case_image(case: Case | str | int, image: Any = None) -> Image.Image | None:
    """The image a case is read from: the user's own if given, else the case's verified image (or None)."""
    case = _resolve(case)
    if image is not None:
        return load_image(image)
    if case.image is None:
        return None
    return load_case_image(case)


def show_case(case: Case | str | int, image: Any = None) -> None:
    """Show the case image (with its attribution) beside the clinical-history card."""
    case = _resolve(case)
    view = CaseView(case, case_image(case, image))
    if in_notebook():
        from IPython.display import display

        display(view)
    else:
        print(case_text(case))


def case_prompt(case: Case | str | int, *, own_image: bool = False) -> str:
    """The question put to MedGemma for this case (the own-image variant when the user brings an image)."""
    case = _resolve(case)
    return case.own_image_question if own_image and case.own_image_question else case.question


# Answers already given in this session, per model object (a model that is dropped takes its answers with it).
_answers: weakref.WeakKeyDictionary[Any, dict[tuple, Findings]] = weakref.WeakKeyDictionary()
# One generation at a time: the read-first worker and a cell may both ask, and one model fits on the GPU once.
_generating = threading.Lock()


def forget_answers() -> None:
    """Drop every remembered answer and read-first session (mh.clear_model_cache calls this)."""
    _answers.clear()
    reveal.forget_sessions()


def _image_key(picture: Image.Image | None) -> str:
    if picture is None:
        return ""
    import hashlib

    digest = hashlib.sha256(f"{picture.mode} {picture.size}".encode())  # same bytes, other shape: another image
    digest.update(picture.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CaseRequest:
    """What a case asks MedGemma: the image as the model gets it, the question, the system prompt, the room."""

    picture: Image.Image | None
    question: str
    system: str | None
    max_new_tokens: int
    image_modality: str | None  # the declared modality of a user's own image ("unknown" if not declared)

    def key(self, case: Case) -> tuple:
        """What makes two requests the same read (greedy decoding: same inputs, same answer)."""
        return (case.id, self.question, self.system, self.max_new_tokens, _image_key(self.picture))


def case_request(case: Case | str | int, *, image: Any = None, modality: str | None = None,
                 prompt: str | None = None, max_new_tokens: int | None = None) -> CaseRequest:
    """The request run_case makes: the case's (or the user's) image padded to square for chest films, and its question."""
    case = _resolve(case)
    picture = case_image(case, image)
    if picture is not None and _is_chest_radiograph(case):
        # Google's chest X-ray notebooks pad to a centred square before the processor resizes to 896 x 896.
        picture = pad_square(picture)
    if max_new_tokens is None:
        likely = thinking_likely(case.system_prompt, 0 if picture is None else 1)
        max_new_tokens = THINKING_MAX_NEW_TOKENS if likely else DEFAULT_MAX_NEW_TOKENS
    own_modality = None if image is None else (modality or "unknown")
    return CaseRequest(picture, prompt if prompt is not None else case_prompt(case, own_image=image is not None),
                       case.system_prompt, max_new_tokens, own_modality)


def _answer(medgemma: Any, case: Case, request: CaseRequest, *, stream: bool,
            on_text: Callable[[str], None] | None) -> Findings:
    """The model's answer to a case request, generated once per model and request."""
    remembered = _answers.setdefault(medgemma, {})
    key = request.key(case)
    if key in remembered:
        findings = remembered[key]
        if on_text is not None:
            on_text(findings.text)
        elif stream:
            show_findings(findings)
        return findings
    with _generating:
        findings = analyze(request.picture, request.question, system=request.system, model=medgemma,
                           max_new_tokens=request.max_new_tokens, stream=stream, on_text=on_text)
    remembered[key] = findings
    return findings


def run_case(case: Case | str | int, model: Any = None, *, image: Any = None, modality: str | None = None,
             prompt: str | None = None, max_new_tokens: int | None = None, stream: bool = True,
             on_text: Callable[[str], None] | None = None, show_prompt: bool = True) -> Findings:
    """Ask MedGemma the case's question about its image (padded to square for chest films), streamed.

    In a live notebook the read stays hidden until the resident commits their own in the quiz (see
    reveal.py): it is generated in the background and shown here at the reveal. `modality` is what a user's
    own `image` is ("ultrasound", "mri"), so the answer key scores the signs read on it.

    Decoding is greedy, so the same model, image and prompt always give the same answer: a repeat within the
    session (the quiz's Reveal, then the Ask cell) is served from memory instead of generating again. Without
    max_new_tokens, a question likely to make MedGemma reason at length (no image) gets room for its thinking.
    """
    case = _resolve(case)
    request = case_request(case, image=image, modality=modality, prompt=prompt, max_new_tokens=max_new_tokens)
    if show_prompt:
        show_html(f"<p><b>Prompt.</b> {esc(request.question)}</p>", f"Prompt: {request.question}\n")
    medgemma = model if model is not None else default_model()
    state = reveal.session(case.id)
    state.image_modality = request.image_modality
    if on_text is None and state.hides():
        return _hidden_read(case, medgemma, request, state)
    findings = _answer(medgemma, case, request, stream=stream, on_text=on_text)
    state.record(request.key(case), findings)
    return findings


def _hidden_read(case: Case, medgemma: Any, request: CaseRequest, state: reveal.CaseSession) -> Findings:
    """Generate in the background with progress shown, keep the answer hidden, and show it at the reveal."""
    from IPython.display import HTML

    future = state.ask(request.key(case), lambda progress: _answer(medgemma, case, request, stream=True,
                                                                   on_text=progress))
    handle = reveal.placeholder("MedGemma is reading. " + reveal.HIDDEN_READ)
    while True:
        try:
            findings = future.result(timeout=0.5)
            break
        except concurrent.futures.TimeoutError:
            handle.update(HTML(reveal.notice_html(f"MedGemma is reading: {state.progress[0]} characters so far. "
                                                  + reveal.HIDDEN_READ)))
    handle.update(HTML(reveal.notice_html("MedGemma's read is ready. " + reveal.HIDDEN_READ)))

    def show() -> None:
        current = state.future.result() if state.future is not None else findings
        handle.update(HTML(findings_html(current)))

    state.when_revealed(show)
    return findings


def _expectation(finding: Any) -> str:
    """The key's expectation as a reader needs it: with pertinence, and the modality an image finding is read on."""
    text = finding.expected
    if finding.expected == "absent" and not finding.pertinent:
        text += " (not a pertinent negative)"
    if finding.shown_on:
        text += " on your own " + " or ".join("MRI" if m == "mri" else m for m in finding.shown_on)
    return text


def answer_key_html(case: Case) -> str:
    """The answer key as HTML: expected findings, diagnosis, certainty, teaching points, attribution."""
    rows = "".join(
        f"<tr><td>{esc(item.name)}</td><td>{esc(_expectation(item))}</td><td style='color:#555'>"
        f"{esc(', '.join(item.synonyms))}"
        + (f"<br><i>denied by: {esc(', '.join(item.absent_when))}</i>" if item.absent_when else "") + "</td></tr>"
        for item in case.answer_key.findings)
    points = "".join(f"<li>{esc(point)}</li>" for point in case.teaching_points)
    attribution = f"<p style='font-size:85%;color:#555'>{esc(_attribution(case))}</p>" if case.image else ""
    return (f"<div class='medgemma-answer-key'><h4>Answer key: case {esc(case.id)}</h4>"
            f"<table><tr><th>Finding</th><th>Expected</th><th>Also counts</th></tr>{rows}</table>"
            f"<p><b>Diagnosis.</b> {esc(case.answer_key.diagnosis)}</p>"
            f"<p><b>How certain.</b> {esc(case.answer_key.certainty)}</p>"
            f"<p><b>Teaching points</b></p><ul>{points}</ul>{attribution}"
            f"<p style='color:#a33;font-size:90%'>{esc(DISCLAIMER)}</p></div>")


def answer_key_text(case: Case) -> str:
    """The answer key as plain text for a terminal."""
    lines = [f"Answer key, case {case.id}:"]
    lines += [f"  - {item.name}: {_expectation(item)}" for item in case.answer_key.findings]
    lines += ["", f"Diagnosis: {case.answer_key.diagnosis}", f"How certain: {case.answer_key.certainty}", "",
              "Teaching points:"]
    lines += [f"  - {point}" for point in case.teaching_points]
    return "\n".join(lines + ["", DISCLAIMER])


class ImageUpload:
    """A file-upload button for your own image (PNG, JPEG or DICOM); read it with .image once chosen."""

    def __init__(self) -> None:
        import ipywidgets as widgets

        self.widget = widgets.FileUpload(accept="image/*,.dcm,.dicom", multiple=False, description="Choose image")

    @property
    def image(self) -> Image.Image:
        """The uploaded file as 8-bit RGB (DICOM files are windowed as load_image does)."""
        from .errors import ImageError

        files = _uploaded_files(self.widget.value)
        if not files:
            raise ImageError("No image was uploaded yet: click 'Choose image', pick a file, then read .image again.")
        name, data = files[0]
        if name.lower().endswith((".dcm", ".dicom")) or data[128:132] == b"DICM":
            import tempfile

            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "upload.dcm"
                path.write_bytes(data)
                return load_image(path)
        return load_image(data)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """(name, bytes) pairs from FileUpload.value: a tuple of dicts in ipywidgets 8, a dict in 7."""
    if isinstance(value, dict):
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value]


def upload_image() -> ImageUpload:
    """Show an upload button for your own de-identified image; then use upload.image."""
    return ImageUpload()
