"""The case as a resident sees it: the image (with its attribution) beside the history card, and the answer key.

Layer: teaching flow, bottom. May import: errors, render, images, cases, case_images, concordance, key_figure.
"""

from __future__ import annotations

import base64
import io
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from .case_images import load_case_image
from .cases import Case, load_case
from .concordance import FindingCheck
from .errors import ImageError
from .images import load_image
from .key_figure import key_figure_html
from .render import DISCLAIMER, esc, in_notebook


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


# The systematic review taught for every chest film: shown before a read, it points at no finding of the case.
CHEST_CHECKLIST = (
    "Technical quality: projection, rotation, inspiration, penetration",
    "Airway: trachea, carina, main bronchi",
    "Lungs: each zone compared with the other side, apices included",
    "Pleura: costophrenic angles, pleural margins, a pneumothorax at the apices",
    "Heart: size (cardiothoracic ratio on a PA film) and borders",
    "Mediastinum and hila: width, contour, position and density",
    "Diaphragm and upper abdomen: both hemidiaphragms, free gas",
    "Lines, tubes and devices: each traced from where it enters to where it ends",
    "Bones and soft tissues: ribs, clavicles, spine, chest wall, breasts",
    "Review areas: apices, behind the heart, below the diaphragm, hila",
)


def systematic_checklist(case: Case) -> tuple[str, ...]:
    """The checklist to read a case by before any answer: the generic chest review, else the case's own."""
    # A case without a chest film (a teacher's CT, case 06's pelvis) has no generic list here; its own must do.
    return CHEST_CHECKLIST if "chest" in case.modality.lower() and case.image is not None else case.review_checklist


def _history_card_html(case: Case, blind: bool = False) -> str:
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
        + ("" if blind else f"<p><b>Differential</b></p>{bullets(case.differential)}")
        + f"<details><summary><b>Read it systematically</b></summary>{bullets(systematic_checklist(case))}</details>"
        "</div>"
    )


def _attribution(case: Case) -> str:
    if case.image is None:
        return ""
    return f"Image: {case.image.attribution} Licence: {case.image.licence}."


class CaseView:
    """What show_case displays: HTML (image beside the history card) with a PNG of the image alongside."""

    def __init__(self, case: Case, image: Image.Image | None, blind: bool = False):
        self.case = case
        self.image = image
        self.blind = blind
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
                       f"<img alt='Case {esc(self.case.id)} image' style='width:100%' "
                       f"src='data:image/png;base64,{encoded}'/><figcaption style='font-size:80%;color:#555'>"
                       f"{esc(_attribution(self.case))}</figcaption></figure>")
        elif self.case.image is None:
            picture = ("<div style='flex:1;min-width:200px;color:#555'><i>No openly licensed image exists for this "
                       "case: it runs as a history-and-reasoning case, or on your own de-identified image.</i></div>")
        layout = "display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start"
        return f"<div style='{layout}'>{picture}{_history_card_html(self.case, self.blind)}</div>"

    def __repr__(self) -> str:
        return case_text(self.case, blind=self.blind)


def case_text(case: Case, *, blind: bool = False) -> str:
    """The case as plain text for a terminal (blind: without the differential)."""
    patient = " ".join(str(p) for p in (case.patient.age and f"{case.patient.age}-year-old", case.patient.sex) if p)
    lines = [f"Case {case.id}: {case.title}", f"{case.modality}, {case.view}" + (f"; {patient}" if patient else ""),
             "", f"Presenting complaint: {case.presenting_complaint}", f"History: {case.history}", "", "Red flags:"]
    lines += [f"  - {item}" for item in case.red_flags]
    if not blind:
        lines += ["Differential:"] + [f"  - {item}" for item in case.differential]
    if case.image is not None:
        lines += ["", _attribution(case)]
    return "\n".join(lines)


def case_image(case: Case | str | int, image: Any = None) -> Image.Image | None:
    """The image a case is read from: the user's own if given, else the case's verified image (or None)."""
    case = load_case(case)
    if image is not None:
        return load_image(image)
    if case.image is None:
        return None
    return load_case_image(case)


def show_case(case: Case | str | int, image: Any = None, *, blind: bool = False) -> None:
    """Show the case image (with its attribution) beside the history card; blind leaves out the differential."""
    case = load_case(case)
    view = CaseView(case, case_image(case, image), blind)
    if in_notebook():
        from IPython.display import display

        display(view)
    else:
        print(case_text(case, blind=blind))


def _expectation(finding: Any) -> str:
    """The key's expectation as a reader needs it: with pertinence, and the modality an image finding is read on."""
    text = finding.expected
    if finding.expected == "absent" and not finding.pertinent:
        text += " (not a pertinent negative)"
    if finding.kind != "finding":  # the impression or a next step: checked in the read, scored apart
        text += f" ({finding.kind}, scored apart from the findings)"
    if finding.shown_on:
        text += " on your own " + " or ".join("MRI" if m == "mri" else m for m in finding.shown_on)
    return text


def answer_key_html(case: Case, checks: Sequence[FindingCheck] | None = None) -> str:
    """The answer key as HTML: the key drawn on the film, expected findings, diagnosis, certainty, teaching points.

    checks: the resident's checks, so the picture marks what they missed and where they put a finding on the wrong
    side.
    """
    rows = "".join(
        f"<tr><td>{esc(item.name)}</td><td>{esc(_expectation(item))}</td><td style='color:#555'>"
        f"{esc(', '.join(item.synonyms))}"
        + (f"<br><i>denied by: {esc(', '.join(item.absent_when))}</i>" if item.absent_when else "") + "</td></tr>"
        for item in case.answer_key.findings)
    points = "".join(f"<li>{esc(point)}</li>" for point in case.teaching_points)
    attribution = f"<p style='font-size:85%;color:#555'>{esc(_attribution(case))}</p>" if case.image else ""
    return (f"<div class='medgemma-answer-key'><h4>Answer key: case {esc(case.id)}</h4>"
            f"{key_figure_html(case, checks)}"
            f"<table><tr><th>Finding</th><th>Expected</th><th>Also counts</th></tr>{rows}</table>"
            f"<p><b>Diagnosis.</b> {esc(case.answer_key.diagnosis)}</p>"
            f"<p><b>How certain.</b> {esc(case.answer_key.certainty)}</p>"
            f"<p><b>Teaching points</b></p><ul>{points}</ul>{attribution}</div>")


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
        files = _uploaded_files(self.widget.value)
        if not files:
            raise ImageError("No image was uploaded yet: click 'Choose image', pick a file, then read .image again.")
        name, data = files[0]
        if name.lower().endswith((".dcm", ".dicom")) or data[128:132] == b"DICM":
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
