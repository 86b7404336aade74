"""Find it and show where: a drill on unknown films, each with a radiologist's box or NIH's "No Finding" label.

For each film the resident commits first (abnormal or not; which finding; where, on a zone grid), then the drill
reveals the radiologist's box, whether the resident's zone overlaps it, and MedGemma's answer to the same question
with its own box. A running tally keeps count for the resident and for MedGemma.

Zones are the patient's, on the film's frame (a frontal film shows the patient's right on the viewer's left):

- "heart and mediastinum": the central band, 40 % to 60 % of the film's width, top to bottom;
- each lung: the rest of its side (the patient's right lung on the viewer's left), cut across at 35 % and 60 % of
  the film's height into upper, middle and lower zones. These cuts split the lung fields of a typical frontal film
  (apices near a tenth of the way down, costophrenic angles near 85 %) into thirds; the upper and lower zones run on
  to the film's edges, so every box lands in some zone. A frame cannot follow one patient's anatomy: the zones are
  an approximation of the radiographic zones, and the reveal draws them on the film.

A box is in a zone when the zone holds at least 10 % of the box's area (MIN_ZONE_SHARE): a sliver over a boundary
does not count, and a box holds between one and all seven zones. A resident's zone is right when it is one of the
zones of the radiologist's box; MedGemma's box is scored the same way (any of its zones among the box's zones), and
by its intersection over union with the radiologist's box.

What is scored, and what is not (a reference is trusted only for what it says):

- a boxed film: calling it normal is wrong; naming the boxed finding is right; naming another finding is not scored
  (the box marks one finding, nobody reviewed the film for others), and then neither is the place;
- a "No Finding" film: calling it normal is right; calling it abnormal is scored against NIH's label, which is
  text-mined from the report and can be wrong (the reveal says so); a finding named there is not scored.

Layer: drills (above the skills). May import: errors, render, files, images, figures, asking, access, cases,
case_images, reveal, class_reads, localisation.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import random
import re
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from . import access
from ._version import __version__
from .asking import DEFAULT_MAX_NEW_TOKENS, analyze, split_thinking
from .case_images import verified_image_path
from .cases import CASES_DIR, CaseImage
from .class_reads import DRILL_RECORD_FORMAT, _clean_alias, reads_folder
from .class_reads import drill_counts as tally_counts  # one count for the drill and the review
from .errors import InputError, MedGemmaError
from .files import write_atomically
from .images import load_image, model_image
from .localisation import Box, draw_boxes, localize
from .render import DISCLAIMER, esc, in_notebook, show_html
from .reveal import _executor, read_first_mode

DRILL_FILMS = CASES_DIR / "drill_films.csv"
ZONES = ("right upper", "right middle", "right lower", "left upper", "left middle", "left lower",
         "heart and mediastinum")
MEDIASTINUM_BAND = (0.40, 0.60)  # of the film's width
ZONE_CUTS = (0.35, 0.60)  # of the film's height: upper | middle | lower
MIN_ZONE_SHARE = 0.10  # of the box's area
BOXED, NO_FINDING = "radiologist box", "NIH label: No Finding"
YOU, MEDGEMMA = "you", "MedGemma"
MODALITY = "chest radiograph"
SIDE_NOTE = ("Zones are the patient's: on a frontal film the patient's right is on your left as you look at it, "
             "so the lung on the left of the screen is the right lung.")
ATTRIBUTION = ("Films: NIH ChestX-ray14, courtesy of the NIH Clinical Center "
               "(https://nihcc.app.box.com/v/ChestXray-NIHCC). Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. "
               "ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on Weakly-Supervised Classification "
               "and Localization of Common Thorax Diseases. IEEE CVPR 2017, pp. 3462-3471.")
DRILL_PROMPT = (
    "This is one frontal chest X-ray. Is there an abnormality on it? If there is, which one of these findings is "
    "the main one: {findings}?\n"
    "Answer in exactly two lines:\n"
    "Abnormal: yes or no\n"
    "Finding: one finding from the list, or none"
)
_COLUMNS = ("image", "kind", "finding", "box_x", "box_y", "box_w", "box_h", "width", "height", "sha256", "url")
# NIH's other spelling of one finding, so that MedGemma's answer is read the way NIH's labels are.
_SPELLINGS = {"infiltrate": ("infiltration",)}


# ---------------------------------------------------------------- zones


def zone_rectangle(zone: str, width: float, height: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a zone on a film of this size, in pixels (the viewer's left is the patient's right)."""
    left, right = MEDIASTINUM_BAND[0] * width, MEDIASTINUM_BAND[1] * width
    if zone == "heart and mediastinum":
        return left, 0.0, right, float(height)
    side, level = zone.split()
    x0, x1 = (0.0, left) if side == "right" else (right, float(width))
    cuts = (0.0, ZONE_CUTS[0] * height, ZONE_CUTS[1] * height, float(height))
    index = ("upper", "middle", "lower").index(level)
    return x0, cuts[index], x1, cuts[index + 1]


def _area(x0: float, y0: float, x1: float, y1: float) -> float:
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def _intersection(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return _area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def box_zones(box: Box, width: float, height: float) -> tuple[str, ...]:
    """The zones holding at least MIN_ZONE_SHARE of the box's area, in ZONES order."""
    corners = (box.x0, box.y0, box.x1, box.y1)
    area = _area(*corners)
    if area <= 0:
        return ()
    return tuple(zone for zone in ZONES
                 if _intersection(corners, zone_rectangle(zone, width, height)) >= MIN_ZONE_SHARE * area)


def iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes (0 when they do not meet)."""
    a, b = (first.x0, first.y0, first.x1, first.y1), (second.x0, second.y0, second.x1, second.y1)
    shared = _intersection(a, b)
    union = _area(*a) + _area(*b) - shared
    return shared / union if union > 0 else 0.0


def normal_zone(zone: str) -> str:
    """A zone name as the drill spells it (any case and spacing), or InputError naming the zones."""
    name = " ".join(str(zone).casefold().split())
    if name not in ZONES:
        raise InputError(f"Zone {zone!r} is not one of the drill's zones: {', '.join(repr(z) for z in ZONES)} "
                         "(the patient's sides).")
    return name


# ---------------------------------------------------------------- films


@dataclass(frozen=True)
class Film:
    """One drill film: where to get it, and its reference (a radiologist's box for one finding, or "No Finding")."""

    image: str
    kind: str
    finding: str  # the boxed finding; "" on a "No Finding" film
    box: Box | None
    width: int
    height: int
    sha256: str
    url: str
    nih_labels: str = ""

    @property
    def boxed(self) -> bool:
        """True when a radiologist's box is the reference."""
        return self.box is not None

    @property
    def reference(self) -> str:
        """What the reference is, in words."""
        if self.boxed:
            return f"a radiologist's box around one finding, {self.finding}"
        return 'NIH\'s label "No Finding", text-mined from the report (not a radiologist\'s review of the film)'

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones of the radiologist's box (none on a "No Finding" film)."""
        return box_zones(self.box, self.width, self.height) if self.box is not None else ()

    def path(self) -> Path:
        """The film's verified local file (mirror, cache or the pinned download; sha256-checked)."""
        return verified_image_path(CaseImage(self.image, self.url, self.sha256, 0, "NIH ChestX-ray14 terms",
                                       ATTRIBUTION, self.finding or "No Finding"))

    def picture(self) -> Image.Image:
        """The verified film as 8-bit RGB."""
        return load_image(self.path())


def _film(row: dict[str, str], where: str) -> Film:
    """A Film from one CSV row, or InputError naming the row and what is wrong."""
    missing = [column for column in _COLUMNS if column not in row]
    if missing:
        raise InputError(f"{where} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; use the "
                         f"format of {DRILL_FILMS.name}.")
    image, kind, finding = (row[column].strip() for column in ("image", "kind", "finding"))
    if kind not in (BOXED, NO_FINDING):
        raise InputError(f"{where}: kind {kind!r} must be {BOXED!r} or {NO_FINDING!r}.")
    if not image or Path(image).name != image:
        raise InputError(f"{where}: image {image!r} must be a plain file name.")
    sha256, url = row["sha256"].strip().lower(), row["url"].strip()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not url.startswith("https://"):
        raise InputError(f"{where}: give the film's sha256 (64 hex digits) and its pinned https URL.")
    try:
        width, height = int(row["width"]), int(row["height"])
        box = None
        if kind == BOXED:
            x, y, w, h = (float(row[column]) for column in ("box_x", "box_y", "box_w", "box_h"))
            box = Box(f"Radiologist: {finding}", x, y, x + w, y + h)
    except (TypeError, ValueError):
        raise InputError(f"{where}: width, height and (for a boxed film) the box must be numbers.") from None
    if box is not None and (not finding or box.width <= 0 or box.height <= 0):
        raise InputError(f"{where}: a boxed film needs its finding and a box with a positive width and height.")
    return Film(image, kind, finding, box, width, height, sha256, url, (row.get("nih_labels") or "").strip())


def load_films(source: str | Path | None = None) -> list[Film]:
    """The drill's films: the project's list, or a teacher's CSV in the same format."""
    path = Path(source).expanduser() if source is not None else DRILL_FILMS
    if not path.is_file():
        raise InputError(f"Drill list {path} does not exist; give a CSV in the format of {DRILL_FILMS.name}.")
    with path.open(newline="", encoding="utf-8") as handle:
        films = [_film(row, f"{path.name} row {number}") for number, row in enumerate(csv.DictReader(handle), 2)]
    if not films:
        raise InputError(f"Drill list {path} holds no films.")
    return films


def drill_findings(films: Sequence[Film]) -> list[str]:
    """The findings a resident may name: those the list's boxes mark, in alphabetical order."""
    return sorted({film.finding for film in films if film.finding}, key=str.casefold)


# ---------------------------------------------------------------- scoring


@dataclass
class Result:
    """How one reader did on one film: what was said, and what of it was right (None: not scored)."""

    film: Film
    reader: str
    abnormal: bool | None
    finding: str | None
    zones: tuple[str, ...] | None  # None: no place given
    finding_right: bool | None
    place_right: bool | None
    normal_right: bool | None
    film_right: bool
    notes: list[str] = field(default_factory=list)
    box: Box | None = None  # MedGemma's box, when it gave one
    iou: float | None = None
    answer_text: str = ""  # MedGemma's answer (model text: escaped wherever it is shown)

    def row(self) -> dict[str, Any]:
        """This result as a plain row (for a table, a CSV or a saved drill)."""
        return {"film": self.film.image, "reader": self.reader, "reference": self.film.finding or "No Finding",
                "reference_kind": self.film.kind, "reference_zones": "; ".join(self.film.zones),
                "abnormal": self.abnormal, "finding": self.finding or "",
                "zones": "; ".join(self.zones) if self.zones else "", "finding_right": self.finding_right,
                "place_right": self.place_right, "normal_right": self.normal_right, "film_right": self.film_right,
                "iou": None if self.iou is None else round(self.iou, 3), "note": " ".join(self.notes)}


def score(film: Film, reader: str, abnormal: bool | None, finding: str | None,
          zones: tuple[str, ...] | None) -> Result:
    """Score one answer against the film's reference; what the reference cannot support is left unscored."""
    notes: list[str] = []
    finding_right: bool | None = None
    place_right: bool | None = None
    normal_right: bool | None = None
    if film.boxed:
        if abnormal is None:
            notes.append("No clear answer: abnormal or not.")
        elif not abnormal:
            finding_right = place_right = False
            notes.append(f"The radiologist boxed {film.finding} on this film.")
        else:
            if finding is not None and finding != film.finding:
                notes.append(f"{finding} is not scored: the box marks {film.finding} only, and nobody reviewed this "
                             "film for other findings.")
            else:
                finding_right = True if finding is not None else None
                place_right = bool(set(zones) & set(film.zones)) if zones is not None else None
        film_right = bool(abnormal) and finding_right is not False and place_right is not False
    else:
        normal_right = abnormal is False
        film_right = normal_right
        if abnormal:
            notes.append('NIH labelled this film "No Finding", text-mined from its report, not a radiologist\'s '
                         "review of the film: the label can be wrong"
                         + (f", and {finding} is not scored." if finding else "."))
    return Result(film, reader, abnormal, finding, zones, finding_right, place_right, normal_right, film_right, notes)


# ---------------------------------------------------------------- MedGemma's answer


def drill_prompt(findings: Sequence[str]) -> str:
    """The question MedGemma is asked about each film (the drill's findings listed)."""
    return DRILL_PROMPT.format(findings=", ".join(findings))


def parse_answer(text: str, findings: Sequence[str]) -> tuple[bool | None, str | None]:
    """(abnormal, finding) from MedGemma's two-line answer; None where it does not say."""
    answer = split_thinking(text or "")[0]
    said = re.search(r"abnormal(?:ity)?\W{0,4}(yes|no)\b", answer, re.IGNORECASE)
    line = re.search(r"finding\W{0,4}([^\n]*)", answer, re.IGNORECASE)
    named = None
    if line is not None:
        for name in findings:
            spellings = (name.casefold(), *_SPELLINGS.get(name.casefold(), ()))
            if any(re.search(rf"\b{re.escape(word)}s?\b", line.group(1), re.IGNORECASE) for word in spellings):
                named = name
                break
    if said is not None:
        abnormal = said.group(1).lower() == "yes"
        return abnormal, named if abnormal else None
    return (True, named) if named is not None else (None, None)


def ask_medgemma(film: Film, model: Any, findings: Sequence[str], *,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> Result:
    """MedGemma's answer to the drill's question and, for a finding it names, its box (mh.localize); scored."""
    picture = film.picture()
    answer = analyze(model_image(picture, modality=MODALITY), drill_prompt(findings), model=model,
                     max_new_tokens=max_new_tokens, stream=False)
    abnormal, finding = parse_answer(answer.text, findings)
    box, notes = None, []
    if abnormal and finding is not None:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # localize's notes about unusable boxes go into the result
            _, boxes = localize(picture, finding.lower(), model=model, modality=MODALITY,
                                max_new_tokens=max_new_tokens, stream=False)
        if boxes:
            box = Box(f"MedGemma: {finding}", boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1)
        else:
            notes.append(f"MedGemma named {finding} but gave no usable box: its place is not scored, as a "
                         "resident's is not when no zone is given.")
    zones = box_zones(box, picture.width, picture.height) if box is not None else None
    result = score(film, MEDGEMMA, abnormal, finding, zones)
    result.notes = notes + result.notes
    result.box, result.answer_text = box, answer.text
    if box is not None and film.box is not None:
        result.iou = iou(box, film.box)
    return result


# ---------------------------------------------------------------- showing


def _grid(canvas: Image.Image) -> None:
    """The zone grid, drawn thin, so the resident sees where each zone ends."""
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    line = max(1, round(min(width, height) / 500))
    for zone in ZONES:
        draw.rectangle(zone_rectangle(zone, width - 1, height - 1), outline=(150, 150, 150), width=line)


def reveal_image(film: Film, medgemma: Result | None = None) -> Image.Image:
    """The film with the zone grid, the radiologist's box and MedGemma's box drawn on it."""
    canvas = film.picture()
    _grid(canvas)
    boxes = [b for b in (film.box, medgemma.box if medgemma else None) if b is not None]
    return draw_boxes(canvas, boxes)


def _png(image: Image.Image, size: int = 640) -> bytes:
    shown = image.copy()
    shown.thumbnail((size, size))
    buffer = io.BytesIO()
    shown.save(buffer, format="PNG")
    return buffer.getvalue()


def _mark(value: bool | None) -> str:
    return {True: "right", False: "wrong", None: "not scored"}[value]


def _said(result: Result) -> str:
    if result.abnormal is None:
        return "no clear answer"
    if not result.abnormal:
        return "normal"
    where = ", ".join(result.zones) if result.zones else "no place"
    return f"abnormal: {result.finding or 'no finding named'}, {where}"


def result_html(results: Sequence[Result]) -> str:
    """The reveal for one film: the reference, then each reader's answer and marks (every value escaped)."""
    film = results[0].film
    where = f" in {', '.join(film.zones)}" if film.zones else ""
    cell = "padding:3px 8px;border:1px solid #bbb;text-align:left"
    head = "".join(f"<th style='{cell}'>{h}</th>" for h in
                   ("Reader", "Said", "Finding", "Place", "Normal film", "Film", "Box IoU", "Notes"))
    body = ""
    for result in results:
        overlap = "" if result.iou is None else f"{result.iou:.2f}"
        body += (f"<tr><td style='{cell}'>{esc(result.reader)}</td><td style='{cell}'>{esc(_said(result))}</td>"
                 + "".join(f"<td style='{cell}'>{_mark(v)}</td>" for v in
                           (result.finding_right, result.place_right, result.normal_right, result.film_right))
                 + f"<td style='{cell}'>{overlap}</td><td style='{cell}'>{esc(' '.join(result.notes))}</td></tr>")
    answers = "".join(f"<p><b>MedGemma's answer:</b> <span style='white-space:pre-wrap'>{esc(r.answer_text)}</span>"
                      "</p>" for r in results if r.reader == MEDGEMMA and r.answer_text)
    return (f"<div class='mh-drill-reveal'><p><b>{esc(film.image)}</b>: the reference is {esc(film.reference)}"
            f"{esc(where)}.</p><table class='mh-drill-marks' style='border-collapse:collapse'><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>{answers}</div>")


def result_text(results: Sequence[Result]) -> str:
    """The reveal for one film as plain text."""
    film = results[0].film
    lines = [f"{film.image}: the reference is {film.reference}"
             + (f" in {', '.join(film.zones)}" if film.zones else "") + "."]
    for r in results:
        overlap = "" if r.iou is None else f", box IoU {r.iou:.2f}"
        lines.append(f"  {r.reader}: {_said(r)}; finding {_mark(r.finding_right)}, place {_mark(r.place_right)}, "
                     f"film {_mark(r.film_right)}{overlap}. {' '.join(r.notes)}".rstrip())
    return "\n".join(lines)


def tally_html(rows: Sequence[dict[str, Any]]) -> str:
    """The running tally for the resident and for MedGemma, as a small table."""
    readers = [reader for reader in (YOU, MEDGEMMA) if any(row["reader"] == reader for row in rows)]
    if not readers:
        return "<p class='mh-drill-tally'><i>No films answered yet.</i></p>"
    counts = {reader: tally_counts(rows, reader) for reader in readers}
    cell = "padding:3px 8px;border:1px solid #bbb;text-align:left"
    head = "".join(f"<th style='{cell}'>{esc(h)}</th>" for h in ("", *readers))
    body = "".join(f"<tr><td style='{cell}'>{esc(measure)}</td>"
                   + "".join(f"<td style='{cell}'>{counts[r][measure][0]} of {counts[r][measure][1]}</td>"
                             for r in readers) + "</tr>" for measure in counts[readers[0]])
    return (f"<table class='mh-drill-tally' style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def tally_text(rows: Sequence[dict[str, Any]]) -> str:
    """The tally as plain text."""
    lines = []
    for reader in (YOU, MEDGEMMA):
        if any(row["reader"] == reader for row in rows):
            counts = tally_counts(rows, reader)
            lines.append(f"{reader}: " + ", ".join(f"{m} {r} of {n}" for m, (r, n) in counts.items()))
    return "\n".join(lines) or "No films answered yet."


def tally_chart_png(rows: Sequence[dict[str, Any]]) -> bytes:
    """A bar chart of the tally (share right per measure, the resident beside MedGemma), as PNG."""
    from matplotlib.figure import Figure

    readers = [reader for reader in (YOU, MEDGEMMA) if any(row["reader"] == reader for row in rows)]
    measures = list(tally_counts(rows, YOU))
    figure = Figure(figsize=(7, 3), dpi=100)
    axes = figure.subplots()
    width = 0.8 / max(1, len(readers))
    for index, reader in enumerate(readers):
        counts = tally_counts(rows, reader)
        shares = [right / scored if scored else 0.0 for right, scored in counts.values()]
        positions = [number + index * width for number in range(len(measures))]
        axes.bar(positions, shares, width, label=reader, color=("#4a7ab5", "#e69f00")[index])
        for x, (right, scored) in zip(positions, counts.values()):
            axes.text(x, 0.02, f"{right}/{scored}", ha="center", va="bottom", fontsize=8)
    axes.set_xticks([number + width * (len(readers) - 1) / 2 for number in range(len(measures))], measures,
                    fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("share right", fontsize=8)
    axes.set_title("Drill tally", fontsize=10)
    if readers:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ---------------------------------------------------------------- the drill


class Drill:
    """A run of unknown films: answer each (d.answer or the widgets), see the reference and MedGemma's answer."""

    def __init__(self, films: Sequence[Film], findings: Sequence[str], model: Any = None,
                 listed: str = DRILL_FILMS.name):
        self.films = list(films)
        self.findings = list(findings)
        self.model = model
        self.listed = listed
        self.index = 0
        self.results: list[Result] = []
        self.model_results: list[Result] = []
        self.widget: Any = None
        self._pending: dict[str, Future] = {}  # MedGemma's answer, started while the resident looks at the film

    @property
    def current(self) -> Film | None:
        """The film to answer now (None when the drill is done)."""
        return self.films[self.index] if self.index < len(self.films) else None

    def _finding(self, finding: str | None) -> str | None:
        if finding is None or not str(finding).strip():
            return None
        names = {name.casefold(): name for name in self.findings}
        name = names.get(" ".join(str(finding).split()).casefold())
        if name is None:
            raise InputError(f"Finding {finding!r} is not one of the drill's findings: {', '.join(self.findings)}.")
        return name

    def _medgemma(self) -> Any:
        return self.model if self.model is not None else access.latest()

    def answer(self, abnormal: bool, finding: str | None = None, zone: str | None = None) -> Result:
        """Answer the current film (abnormal or not; which finding; which zone), move on, and return its result."""
        film = self.current
        if film is None:
            raise InputError(f"The drill is done: all {len(self.films)} films are answered. See d.tally().")
        if not isinstance(abnormal, bool):
            raise InputError(f"abnormal must be True or False, not {abnormal!r}.")
        name, place = self._finding(finding), normal_zone(zone) if zone is not None and str(zone).strip() else None
        if not abnormal and (name or place):
            raise InputError("A normal call names no finding and no zone: give abnormal=True with them.")
        result = score(film, YOU, abnormal, name, (place,) if place else None)
        self.results.append(result)
        medgemma = self._medgemma()
        if medgemma is not None:
            started = self._pending.pop(film.image, None)
            self.model_results.append(self._medgemma_result(film, medgemma, started))
        self.index += 1
        return result

    def _medgemma_result(self, film: Film, medgemma: Any, started: Future | None = None) -> Result:
        """MedGemma's scored answer (the one started in the background, if any); a refusal becomes a note."""
        try:
            return started.result() if started is not None else ask_medgemma(film, medgemma, self.findings)
        except MedGemmaError as error:  # e.g. a pack recorded without this film: say so, keep the drill going
            missing = score(film, MEDGEMMA, None, None, None)
            missing.notes = [f"MedGemma could not answer: {error}"]
            return missing

    def _start_medgemma(self) -> None:
        """Start MedGemma on the current film while the resident reads it (one model worker, shared with quizzes)."""
        film, medgemma = self.current, self._medgemma()
        if film is not None and medgemma is not None and film.image not in self._pending:
            self._pending[film.image] = _executor().submit(ask_medgemma, film, medgemma, self.findings)

    def film_results(self, film: Film) -> list[Result]:
        """The resident's and MedGemma's results for one answered film."""
        return [r for r in (*self.results, *self.model_results) if r.film is film]

    def tally(self) -> list[dict[str, Any]]:
        """One plain row per answered film and reader (you, then MedGemma), in the order answered."""
        return [result.row() for film in self.films for result in self.film_results(film)]

    def show_tally(self) -> list[dict[str, Any]]:
        """Show the tally table and chart; returns the rows."""
        rows = self.tally()
        png = base64.b64encode(tally_chart_png(rows)).decode("ascii") if rows else ""
        chart = f"<img alt='Drill tally chart' style='max-width:100%' src='data:image/png;base64,{png}'/>" * bool(png)
        show_html(f"<div class='mh-drill-summary'>{tally_html(rows)}{chart}<p style='color:#a33'>{esc(DISCLAIMER)}</p>"
                  "</div>", f"{tally_text(rows)}\n{DISCLAIMER}")
        return rows

    def save(self, alias: str, folder: str | Path | None = None) -> Path:
        """Save the drill's rows under an alias as a small JSON record, for the class review (mh.drill_review)."""
        alias = _clean_alias(alias)
        record = {"format": DRILL_RECORD_FORMAT, "format_version": 1, "alias": alias, "films_list": self.listed,
                  "rows": self.tally(), "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "project_version": __version__}
        # One file per alias, whatever characters it holds: a slug to read, a digest to keep aliases apart.
        slug = re.sub(r"[^a-z0-9]+", "-", alias.casefold()).strip("-")[:40] or "resident"
        digest = hashlib.sha256(alias.casefold().encode("utf-8")).hexdigest()[:8]
        path = reads_folder(folder) / f"drill_{slug}-{digest}.json"
        write_atomically(path, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        return path

    # ------------------------------------------------------------ widgets

    def build_widgets(self) -> Any:
        """The drill's widgets: the film, the commitment (abnormal, finding, zone grid), the reveal, the tally."""
        import ipywidgets as widgets

        self._film_view = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self._status = widgets.HTML()
        self._abnormal = widgets.ToggleButtons(options=["Abnormal", "Normal"], value=None,
                                               description="Your call:")
        self._finding_box = widgets.Dropdown(options=["(choose a finding)", *self.findings],
                                             description="Finding:")
        self._zone_buttons = {zone: widgets.ToggleButton(description=zone, tooltip=f"the patient's {zone}",
                                                         layout=widgets.Layout(width="auto", height="auto",
                                                                               grid_area=zone.replace(" ", "_")))
                              for zone in ZONES}
        for button in self._zone_buttons.values():
            button.observe(self._one_zone, names="value")
        # Laid out as on the film: the patient's right lung on the viewer's left.
        areas = ('"right_upper heart_and_mediastinum left_upper" '
                 '"right_middle heart_and_mediastinum left_middle" '
                 '"right_lower heart_and_mediastinum left_lower"')
        self._zone_grid = widgets.GridBox(list(self._zone_buttons.values()), layout=widgets.Layout(
            grid_template_areas=areas, grid_template_columns="1fr 1fr 1fr", width="640px", grid_gap="4px"))
        self._commit = widgets.Button(description="Commit and reveal", button_style="primary", icon="eye",
                                      layout=widgets.Layout(width="auto"))
        self._next = widgets.Button(description="Next film", icon="forward", disabled=True)
        self._reveal = widgets.HTML()
        self._tally = widgets.HTML(value=tally_html([]))
        self._commit.on_click(lambda _: self._commit_clicked())
        self._next.on_click(lambda _: self._show_current())
        self.widget = widgets.VBox([
            self._status, self._film_view, widgets.HTML(f"<p><i>{esc(SIDE_NOTE)}</i></p>"), self._abnormal,
            self._finding_box, widgets.HTML("<b>Where (the patient's sides):</b>"), self._zone_grid,
            widgets.HBox([self._commit, self._next]), self._reveal, self._tally,
            widgets.HTML(f"<p style='color:#555;font-size:85%'>{esc(ATTRIBUTION)}</p>")])
        self._show_current()
        return self.widget

    def _one_zone(self, change: dict[str, Any]) -> None:
        """The zone buttons act as one choice: pressing one releases the others."""
        if change["new"]:
            for button in self._zone_buttons.values():
                if button is not change["owner"] and button.value:
                    button.value = False

    def _show_current(self) -> None:
        film = self.current
        self._reveal.value = ""
        self._next.disabled = True
        if film is None:
            self._status.value = f"<h4>Done: {len(self.films)} films.</h4>"
            self._commit.disabled = True
            return
        self._status.value = f"<h4>Film {self.index + 1} of {len(self.films)}</h4>"
        self._film_view.value = _png(film.picture())
        self._start_medgemma()
        self._abnormal.value = None
        self._finding_box.value = "(choose a finding)"
        for button in self._zone_buttons.values():
            button.value = False
        self._commit.disabled = False

    def _commit_clicked(self) -> None:
        if self._abnormal.value is None:
            self._reveal.value = "<p style='color:#a33'>Commit first: abnormal or normal?</p>"
            return
        film = self.current
        abnormal = self._abnormal.value == "Abnormal"
        chosen = self._finding_box.value if self._finding_box.value in self.findings else None
        zone = next((zone for zone, button in self._zone_buttons.items() if button.value), None)
        self._commit.disabled = True
        self._reveal.value = "<p><i>Revealing (MedGemma is reading the film)…</i></p>"
        try:
            self.answer(abnormal, chosen if abnormal else None, zone if abnormal else None)
        except MedGemmaError as error:
            self._reveal.value = f"<p style='color:#a33'><b>Could not reveal:</b> {esc(error)}</p>"
            self._commit.disabled = False
            return
        results = self.film_results(film)  # type: ignore[arg-type]
        medgemma = next((r for r in results if r.reader == MEDGEMMA), None)
        self._film_view.value = _png(reveal_image(film, medgemma))  # type: ignore[arg-type]
        if medgemma is None:
            results_markup = "<p><i>No MedGemma loaded: only your answer is scored.</i></p>"
        else:
            results_markup = ""
        self._reveal.value = result_html(results) + results_markup
        self._tally.value = tally_html(self.tally())
        self._next.disabled = self.current is None
        if self.current is None:
            self._status.value = f"<h4>Done: {len(self.films)} films. Run the tally cell below.</h4>"

    def walk_through(self) -> None:
        """Show every film's reference and MedGemma's answer at once (a teacher's walkthrough, or a headless run)."""
        medgemma = self._medgemma()
        for number, film in enumerate(self.films, 1):
            results = [self._medgemma_result(film, medgemma)] if medgemma is not None else []
            self.model_results += results
            if in_notebook():
                from IPython.display import display

                shown = reveal_image(film, results[0] if results else None)
                shown.thumbnail((512, 512))  # drawn at full size, shown at a screen's
                display(shown)
            show_html(f"<h4>Film {number} of {len(self.films)}</h4>" + (result_html(results) if results else
                      f"<p>{esc(film.image)}: the reference is {esc(film.reference)}.</p>"),
                      f"Film {number}: " + (result_text(results) if results else film.reference))
        self.index = len(self.films)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            film = self.current
            return {"text/plain": f"Drill of {len(self.films)} films"
                    + (f": answer film {self.index + 1} with d.answer(abnormal, finding, zone)" if film else ": done")}
        return self.widget._repr_mimebundle_(**kwargs)


def drill(films: str | Path | Sequence[Film] | None = None, n: int = 10, *, model: Any = None,
          seed: int | None = None) -> Drill:
    """A drill of n unknown films (from the project's list, a teacher's CSV, or given Films); a seed fixes the order.

    In a notebook it shows the film and the commitment widgets; a teacher's walkthrough (MEDGEMMA_SHOW_ALL, or a
    headless run) shows every film's reference and MedGemma's answer at once. Elsewhere answer with d.answer(...).
    """
    listed = DRILL_FILMS.name
    if films is None or isinstance(films, (str, Path)):
        listed = Path(films).name if films is not None else listed
        pool = load_films(films)
    else:
        pool = list(films)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n={n!r} must be a whole number of films, at least 1.")
    chosen = random.Random(seed).sample(pool, min(n, len(pool)))
    made = Drill(chosen, drill_findings(pool), model, listed)
    if in_notebook():
        if read_first_mode():
            try:
                made.build_widgets()
            except ImportError:
                print("ipywidgets is not installed: answer with d.answer(abnormal, finding, zone).")
        else:
            made.walk_through()
    else:
        print(f"A drill of {len(chosen)} films. {SIDE_NOTE} Answer each with d.answer(abnormal, finding, zone); "
              f"findings: {', '.join(made.findings)}; zones: {', '.join(ZONES)}.")
    return made

