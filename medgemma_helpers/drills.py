"""Find it and show where: a drill on unknown films, each with a radiologist's box or NIH's "No Finding" label.

For each film the resident commits first (one finding from a fixed list, or "none of these findings"; and where,
on a zone grid), then the drill reveals the radiologist's box, the marks, and MedGemma's answer to the same question
with its own box, scored by the same rules. A running tally keeps count for the resident and for MedGemma.

The films (cases/drill_films.csv, rebuilt by tools/make_drill_films.py): every film NIH released a radiologist's box
for (880 films, one row per box; a film may carry boxes for two to four findings), and sixteen films NIH labelled
"No Finding". The default draw is PA films with one box each, balanced across the findings; a teacher may include
AP films, films with several boxes, only some findings, or a list of their own in the same format.

The finding words are a fixed radiological vocabulary (FINDINGS), never taken from the films drawn: NIH's
"Infiltrate" and "Pneumonia" boxes are airspace opacities, its "Effusion" a pleural effusion. NIH's own word is shown
at the reveal for what it is, a label text-mined from the report.

Zones are the patient's, on the film's frame (a frontal film shows the patient's right on the viewer's left):

- "heart and mediastinum": the central band, 40 % to 60 % of the film's width, top to bottom;
- each lung: the rest of its side, cut across at 35 % and 60 % of the film's height into upper, middle and lower
  zones (the lung fields of a typical frontal film run from near a tenth of the way down to near 85 %, so the cuts
  fall near a third and two thirds of the lung's height, not of the film's).
  A frame cannot follow one patient's anatomy: the zones approximate the radiographic zones, and the reveal draws
  them on the film.

Where a finding is (its right zones): the zone holding the box's centre, and any zone holding at least half of the
box. Cardiomegaly's place is the heart and mediastinum, whatever the box's extent. A box that no zone holds half of,
spread over three or more zones, is diffuse: its place is not scored, and the reveal says why.

What is scored (a reference is trusted for what it says, and strictly):

- a boxed film: the film is right when a boxed finding is named in one of its right zones. Naming another finding
  misses the boxed one (finding wrong, film wrong); that other finding is reported as not verified, since nobody
  reviewed the film for it. A box is missed whenever no boxed finding is named: "none of these findings", another
  finding, or no clear answer. With several boxes, any boxed finding counts.
- a "No Finding" film: NIH's label was text-mined from the report, not a radiologist's review, so an abnormal call
  is counted apart, as disagreeing with the report's label, never as a wrong film.
- MedGemma is scored exactly as the resident: its place is the zone holding its box's centre, and its box's overlap
  with the radiologist's box (IoU) is shown beside.

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
from .case_images import MIRROR_ENV, mirror_dir, verified_image_path
from .cases import CASES_DIR, CaseImage, cases_dir
from .class_reads import DRILL_RECORD_FORMAT, DRILL_RECORD_VERSION, _clean_alias, alias_file_stem, reads_folder
from .class_reads import drill_counts as tally_counts  # one count for the drill and the review
from .errors import ImageError, InputError, MedGemmaError
from .files import sha256_of, write_atomically
from .images import load_image, model_image
from .localisation import Box, draw_boxes, localize
from .pack import pack_film_path
from .render import DISCLAIMER, esc, in_notebook, show_html
from .reveal import _executor, read_first_mode

DRILL_FILMS_NAME = "drill_films.csv"
DRILL_FILMS = CASES_DIR / DRILL_FILMS_NAME
# The fixed vocabulary a resident (and MedGemma) chooses from, whatever films are drawn.
FINDINGS = ("atelectasis", "cardiomegaly", "pleural effusion", "airspace opacity", "mass", "nodule", "pneumothorax")
NONE_OF_THESE = "none of these findings"
# NIH's box labels in the vocabulary's words: "Pneumonia" is a diagnosis and "Infiltrate" a word the Fleischner
# glossary discourages; on a film both are airspace opacities.
NIH_FINDINGS = {"Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Effusion": "pleural effusion",
                "Infiltrate": "airspace opacity", "Pneumonia": "airspace opacity", "Mass": "mass", "Nodule": "nodule",
                "Pneumothorax": "pneumothorax"}
HEART = "heart and mediastinum"
ZONES = ("right upper", "right middle", "right lower", "left upper", "left middle", "left lower", HEART)
MEDIASTINUM_BAND = (0.40, 0.60)  # of the film's width
ZONE_CUTS = (0.35, 0.60)  # of the film's height: upper | middle | lower
HALF = 0.5  # a zone holding at least this share of a box is one of its places
DIFFUSE_ZONES = 3  # a box over this many zones, none holding half of it, is diffuse
VIEWS = ("PA", "AP")
FILM_BYTES = 2 << 20
BOXED, NO_FINDING = "radiologist box", "NIH label: No Finding"
YOU, MEDGEMMA = "you", "MedGemma"
MODALITY = "chest radiograph"
NOTEBOOK_SEED, NOTEBOOK_N = 2026, 10  # notebook 13's draw (a class pack records MedGemma's answers for it)
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
_REQUIRED = ("image", "kind", "finding", "box_x", "box_y", "box_w", "box_h", "view", "width", "height", "sha256",
             "url")
# Other words for a finding in a model's answer (and NIH's "Infiltration" in its label table).
_SPELLINGS = {"pleural effusion": ("effusion",),
              "airspace opacity": ("air-space opacity", "airspace opacities", "infiltrate", "infiltration",
                                   "consolidation", "pneumonia")}


# ---------------------------------------------------------------- zones and places


def zone_rectangle(zone: str, width: float, height: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a zone on a film of this size, in pixels (the viewer's left is the patient's right)."""
    left, right = MEDIASTINUM_BAND[0] * width, MEDIASTINUM_BAND[1] * width
    if zone == HEART:
        return left, 0.0, right, float(height)
    side, level = zone.split()
    x0, x1 = (0.0, left) if side == "right" else (right, float(width))
    cuts = (0.0, ZONE_CUTS[0] * height, ZONE_CUTS[1] * height, float(height))
    index = ("upper", "middle", "lower").index(level)
    return x0, cuts[index], x1, cuts[index + 1]


def zone_at(x: float, y: float, width: float, height: float) -> str:
    """The zone holding the point (x, y) of a film of this size (a point on a boundary goes to the zone after it)."""
    if MEDIASTINUM_BAND[0] * width <= x < MEDIASTINUM_BAND[1] * width:
        return HEART
    side = "right" if x < MEDIASTINUM_BAND[0] * width else "left"
    level = "upper" if y < ZONE_CUTS[0] * height else "middle" if y < ZONE_CUTS[1] * height else "lower"
    return f"{side} {level}"


def _area(x0: float, y0: float, x1: float, y1: float) -> float:
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def _intersection(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return _area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def zone_shares(box: Box, width: float, height: float) -> dict[str, float]:
    """The share of the box's area each zone holds (zones holding none of it left out), in ZONES order."""
    corners = (box.x0, box.y0, box.x1, box.y1)
    area = _area(*corners)
    if area <= 0:
        return {}
    shares = {zone: _intersection(corners, zone_rectangle(zone, width, height)) / area for zone in ZONES}
    return {zone: share for zone, share in shares.items() if share > 0}


def box_centre_zone(box: Box, width: float, height: float) -> str:
    """The zone holding the box's centre."""
    return zone_at((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, width, height)


def is_diffuse(finding: str, box: Box, width: float, height: float) -> bool:
    """True when no zone holds half of the box and it spreads over three or more zones (cardiomegaly never is)."""
    if finding == "cardiomegaly":
        return False
    shares = zone_shares(box, width, height)
    return len(shares) >= DIFFUSE_ZONES and max(shares.values(), default=0.0) < HALF


def right_zones(finding: str, box: Box, width: float, height: float) -> tuple[str, ...]:
    """The zones that place this finding right: its centre's zone and any zone holding half the box; none if diffuse.

    Cardiomegaly's place is the heart and mediastinum, whatever the box's extent.
    """
    if finding == "cardiomegaly":
        return (HEART,)
    if is_diffuse(finding, box, width, height):
        return ()
    shares = zone_shares(box, width, height)
    # On this grid of rectangles the two tests agree: a zone holding half the box holds its centre, and a box whose
    # centre zone holds less than half spreads over three zones or more (diffuse). Both are kept as the rule reads.
    centre = box_centre_zone(box, width, height)
    return tuple(zone for zone in ZONES if zone == centre or shares.get(zone, 0.0) >= HALF)


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


def normal_finding(finding: str) -> str:
    """A finding as the vocabulary spells it (any case; NIH's words too), or InputError listing the choices."""
    name = " ".join(str(finding).split())
    words = {word: word for word in FINDINGS} | {nih.casefold(): word for nih, word in NIH_FINDINGS.items()}
    word = words.get(name.casefold())
    if word is None:
        raise InputError(f"Finding {finding!r} is not one of the drill's findings: "
                         f"{', '.join(repr(w) for w in FINDINGS)} (or d.answer(False) for {NONE_OF_THESE!r}).")
    return word


# ---------------------------------------------------------------- films


@dataclass(frozen=True)
class ReferenceBox:
    """One radiologist's box: the finding in the vocabulary's words, NIH's own label word, and the box."""

    finding: str
    nih_label: str
    box: Box


@dataclass(frozen=True)
class Film:
    """One drill film: where to get it, and its reference (a radiologist's boxes, or NIH's "No Finding" label)."""

    image: str
    kind: str
    boxes: tuple[ReferenceBox, ...]
    width: int
    height: int
    sha256: str
    url: str
    nih_labels: str = ""
    view: str = ""
    age: str = ""
    sex: str = ""

    @property
    def boxed(self) -> bool:
        """True when a radiologist's box is the reference."""
        return bool(self.boxes)

    @property
    def findings(self) -> tuple[str, ...]:
        """The boxed findings, in the vocabulary's words (none on a "No Finding" film)."""
        return tuple(dict.fromkeys(reference.finding for reference in self.boxes))

    @property
    def reference(self) -> str:
        """What the reference is, in words."""
        if self.boxed:
            boxes = "; ".join(f"{r.finding} (NIH label, text-mined: {r.nih_label})" for r in self.boxes)
            return f"a radiologist's box{'es' if len(self.boxes) > 1 else ''}: {boxes}"
        return ('NIH label, text-mined: No Finding (from the report, not a radiologist\'s review of the film: an '
                'abnormal call is counted as disagreeing with the label, not as wrong)')

    def place(self, reference: ReferenceBox) -> str:
        """Where a box's finding is, in words: its right zones, or why its place is not scored."""
        if reference.finding == "cardiomegaly":
            return f"{HEART} (cardiomegaly's place, whatever the box's extent)"
        zones = right_zones(reference.finding, reference.box, self.width, self.height)
        if zones:
            return " or ".join(zones)
        spread = len(zone_shares(reference.box, self.width, self.height))
        return (f"diffuse: the box spreads over {spread} zones and no zone holds half of it, so place is not "
                "scored")

    def path(self) -> Path:
        """The film's verified local file (mirror, cache or the pinned download; sha256-checked)."""
        label = ", ".join(r.nih_label for r in self.boxes) or "No Finding"
        # The list gives no file sizes: allow what a 1024 x 1024 RGBA PNG can take (downloads are capped at twice it).
        return verified_image_path(CaseImage(self.image, self.url, self.sha256, FILM_BYTES, "NIH ChestX-ray14 terms",
                                             ATTRIBUTION, label))

    def picture(self) -> Image.Image:
        """The verified film as 8-bit RGB (a film whose bytes are not the pinned ones is refused: ImageError)."""
        return load_image(self.path())


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def _problem(where: str, column: str, message: str) -> InputError:
    return InputError(f"{where}, column {column}: {message}")


def _film_row(row: dict[str, str], where: str) -> tuple[dict[str, Any], ReferenceBox | None]:
    """A film's fields and its box (None on a "No Finding" film) from one row, or InputError naming the column."""
    image, kind = _cell(row, "image"), _cell(row, "kind")
    if not image or Path(image).name != image:
        raise _problem(where, "image", f"{image!r} must be a plain file name such as 00013911_000.png.")
    if kind not in (BOXED, NO_FINDING):
        raise _problem(where, "kind", f"{kind!r} must be {BOXED!r} or {NO_FINDING!r}.")
    sha256 = _cell(row, "sha256").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise _problem(where, "sha256", f"{_cell(row, 'sha256')!r} is not a sha256 (64 hex digits); give the "
                       "checksum of the film's file, e.g. from `sha256sum`.")
    url = _cell(row, "url")
    if not url.startswith("https://"):
        raise _problem(where, "url", f"{url!r} must be the film's pinned https:// address.")
    view = _cell(row, "view").upper()
    if view not in VIEWS:
        raise _problem(where, "view", f"{_cell(row, 'view')!r} must be one of {', '.join(VIEWS)}.")
    size = {}
    for column in ("width", "height"):
        try:
            size[column] = int(_cell(row, column))
        except ValueError:
            raise _problem(where, column, f"{_cell(row, column)!r} must be the film's size in pixels.") from None
        if size[column] <= 0:
            raise _problem(where, column, "the film's size in pixels must be positive.")
    fields = {"image": image, "kind": kind, "width": size["width"], "height": size["height"], "sha256": sha256,
              "url": url, "nih_labels": _cell(row, "nih_labels"), "view": view, "age": _cell(row, "age"),
              "sex": _cell(row, "sex")}
    if kind == NO_FINDING:
        return fields, None
    label = _cell(row, "finding")
    if label not in NIH_FINDINGS:
        raise _problem(where, "finding", f"{label!r} must be one of NIH's boxed findings: {', '.join(NIH_FINDINGS)}.")
    corner = {}
    for column in ("box_x", "box_y", "box_w", "box_h"):
        try:
            corner[column] = float(_cell(row, column))
        except ValueError:
            raise _problem(where, column, f"{_cell(row, column)!r} must be a number of pixels.") from None
    if corner["box_w"] <= 0 or corner["box_h"] <= 0:
        raise _problem(where, "box_w" if corner["box_w"] <= 0 else "box_h", "a box needs a positive width and height.")
    x, y = corner["box_x"], corner["box_y"]
    box = Box(f"Radiologist: {NIH_FINDINGS[label]}", x, y, x + corner["box_w"], y + corner["box_h"])
    return fields, ReferenceBox(NIH_FINDINGS[label], label, box)


def load_films(source: str | Path | None = None) -> list[Film]:
    """The drill's films: the project's list (one row per box), a teacher's case folder's, or a teacher's CSV."""
    path = Path(source).expanduser() if source is not None else films_list()
    if not path.is_file():
        raise InputError(f"Drill list {path} does not exist; give a CSV in the format of {DRILL_FILMS_NAME} "
                         "(see cases/drill_films.md).")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in _REQUIRED if column not in (reader.fieldnames or ())]
        if missing:
            raise InputError(f"{path.name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                             f"a drill list has the columns {', '.join(_REQUIRED)} (and optionally nih_labels, age, "
                             "sex), one row per box: see cases/drill_films.md.")
        fields: dict[str, dict[str, Any]] = {}
        boxes: dict[str, list[ReferenceBox]] = {}
        for number, row in enumerate(reader, 2):
            where = f"{path.name}, row {number}"
            film, box = _film_row(row, where)
            first = fields.setdefault(film["image"], film)
            for column in ("kind", "sha256", "url", "width", "height", "view"):
                if film[column] != first[column]:
                    raise _problem(where, column, f"{film[column]!r} differs from an earlier row of the same film "
                                   f"{film['image']} ({first[column]!r}): the rows of one film must agree.")
            if box is not None:
                if any(b.nih_label == box.nih_label for b in boxes.get(film["image"], [])):
                    raise _problem(where, "finding", f"{film['image']} has two boxes labelled {box.nih_label}; "
                                   "keep one.")
                boxes.setdefault(film["image"], []).append(box)
    if not fields:
        raise InputError(f"Drill list {path} holds no films.")
    return [Film(boxes=tuple(boxes.get(image, ())), **values) for image, values in fields.items()]


def films_list() -> Path:
    """The list the drill draws from: a teacher's case folder's own (MEDGEMMA_CASES_DIR), else the project's."""
    own = cases_dir() / DRILL_FILMS_NAME
    return own if own.is_file() else DRILL_FILMS



# ---------------------------------------------------------------- drawing films


def _wanted_findings(finding: str | Sequence[str] | None) -> set[str] | None:
    """The categories a finding= filter asks for (vocabulary words, NONE_OF_THESE), or None for all."""
    if finding is None:
        return None
    asked = [finding] if isinstance(finding, str) else list(finding)
    if not asked:
        raise InputError(f"finding= is empty; give one of {', '.join(repr(w) for w in (*FINDINGS, NONE_OF_THESE))}, "
                         "a list of them, or None for all.")
    return {NONE_OF_THESE if " ".join(str(a).split()).casefold() in (NONE_OF_THESE, "no finding")
            else normal_finding(a) for a in asked}


def _category(film: Film) -> tuple[str, ...]:
    return film.findings or (NONE_OF_THESE,)


def select_films(films: Sequence[Film], *, finding: str | Sequence[str] | None = None, view: str | None = "PA",
                 several_findings: bool = False) -> list[Film]:
    """The films fitting a drill's choices (view, findings, one box or several), or InputError saying what to relax."""
    wanted = _wanted_findings(finding)
    if view is not None and str(view).strip().upper() not in VIEWS:
        raise InputError(f"view={view!r} must be one of {', '.join(repr(v) for v in VIEWS)}, or None for both.")
    views = VIEWS if view is None else (str(view).strip().upper(),)
    chosen = [film for film in films if film.view in views and (several_findings or len(film.boxes) <= 1)
              and (wanted is None or wanted & set(_category(film)))]
    if not chosen:
        what = ", ".join(sorted(wanted)) if wanted else "any finding"
        raise InputError(f"No film on the list fits: {what}, view {' or '.join(views)}, "
                         f"{'any number of boxes' if several_findings else 'one box per film'}. Choose among "
                         f"{', '.join(repr(w) for w in (*FINDINGS, NONE_OF_THESE))}, or widen the draw with view=None "
                         "(AP films too) or several_findings=True.")
    return chosen


def _rank(seed: str, name: str) -> str:
    # A film's place in a seeded order depends on the seed and its own name only, so a smaller pool holding the
    # films a larger one drew (a class pack's, a mirror's) draws those same films in the same order.
    return hashlib.sha256(f"{seed}\n{name}".encode()).hexdigest()


def balanced_draw(films: Sequence[Film], n: int, seed: int | str | None = None) -> list[Film]:
    """n films taken in turn from each category (each finding, and "none of these findings"), in a seeded order."""
    key = str(seed) if seed is not None else str(random.SystemRandom().getrandbits(64))
    queues: dict[str, list[Film]] = {}
    for film in sorted(films, key=lambda f: _rank(key, f.image)):
        for category in _category(film):
            queues.setdefault(category, []).append(film)
    order = sorted(queues, key=lambda category: _rank(key, category))
    chosen: dict[str, Film] = {}
    while len(chosen) < n and any(queues.values()):
        for category in order:
            queue = queues[category]
            while queue and queue[0].image in chosen:
                queue.pop(0)
            if queue and len(chosen) < n:
                film = queue.pop(0)
                chosen[film.image] = film
    return sorted(chosen.values(), key=lambda f: _rank(key, "shown " + f.image))


def mirrored(films: Sequence[Film]) -> list[Film]:
    """The films held here, in the MEDGEMMA_IMAGE_MIRROR folder or the class pack in use (checked when shown)."""
    folder = mirror_dir()
    folder = folder if folder is not None and folder.is_dir() else None
    return [film for film in films
            if (folder is not None and (folder / film.image).is_file()) or pack_film_path(film.sha256) is not None]


def draw_films(films: str | Path | Sequence[Film] | None = None, n: int = 10, *,
               finding: str | Sequence[str] | None = None, view: str | None = "PA", several_findings: bool = False,
               seed: int | str | None = None) -> tuple[list[Film], str]:
    """The films a drill shows, and a note on where they were drawn from.

    With MEDGEMMA_IMAGE_MIRROR naming a folder that holds some of the fitting films, only those are drawn: a
    teacher's mirror is the class's film set, used with no network. A mirror holding none of them (one kept for the
    case films) changes nothing: the films are downloaded when shown.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n={n!r} must be a whole number of films, at least 1.")
    pool = load_films(films) if films is None or isinstance(films, (str, Path)) else list(films)
    fitting = select_films(pool, finding=finding, view=view, several_findings=several_findings)
    held = mirrored(fitting)
    note = ""
    if held and len(held) < len(fitting):
        note = (f"Drawn from the {len(held)} of {len(fitting)} fitting films held here ({MIRROR_ENV} or the class "
                f"pack); unset it, or add films to it, to draw from all {len(fitting)}.")
        fitting = held
    chosen = balanced_draw(fitting, n, seed)
    if len(chosen) < n:
        note = (note + " " if note else "") + f"Only {len(chosen)} films fit, so the drill has {len(chosen)}."
    return chosen, note


def notebook_films() -> list[Film]:
    """The films notebook 13 shows by default (its seed, its number, the default draw)."""
    return draw_films(n=NOTEBOOK_N, seed=NOTEBOOK_SEED)[0]


def mirror_films(folder: str | Path, films: str | Path | Sequence[Film] | None = None) -> Path:
    """Copy every film of the list (verified, downloaded where needed) into a folder for MEDGEMMA_IMAGE_MIRROR."""
    target = Path(folder).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    pool = load_films(films) if films is None or isinstance(films, (str, Path)) else list(films)
    for number, film in enumerate(pool, 1):
        copy = target / film.image
        if not copy.is_file() or sha256_of(copy) != film.sha256:  # a copy already there is kept only if it is the film
            write_atomically(copy, film.path().read_bytes())
        if number % 100 == 0:
            print(f"{number} of {len(pool)} films in {target}", flush=True)
    print(f"{len(pool)} films in {target}: set {MIRROR_ENV}={target} for the drill to use them.")
    return target


# ---------------------------------------------------------------- scoring


@dataclass
class Result:
    """How one reader did on one film: what was said, and what of it was right (None: not scored)."""

    film: Film
    reader: str
    abnormal: bool | None
    finding: str | None
    zone: str | None  # None: no place given
    finding_right: bool | None
    place_right: bool | None
    film_right: bool | None  # None on a "No Finding" film: a text-mined label cannot make a call wrong
    box_missed: bool | None = None  # a boxed film whose boxed finding was not named
    disagrees_with_label: bool | None = None  # a "No Finding" film called abnormal
    not_verified: str = ""  # a finding named on a boxed film that nobody reviewed the film for
    notes: list[str] = field(default_factory=list)
    box: Box | None = None  # MedGemma's box, when it gave one
    iou: float | None = None
    answer_text: str = ""  # MedGemma's answer (model text: escaped wherever it is shown)

    def row(self) -> dict[str, Any]:
        """This result as a plain row (for a table, a CSV or a saved drill)."""
        film = self.film
        return {"film": film.image, "reader": self.reader, "view": film.view,
                "reference": "; ".join(f"{r.finding} (NIH: {r.nih_label})" for r in film.boxes) or "No Finding",
                "reference_kind": film.kind,
                "reference_place": "; ".join(film.place(r) for r in film.boxes),
                "abnormal": self.abnormal, "finding": self.finding or "", "zone": self.zone or "",
                "finding_right": self.finding_right, "place_right": self.place_right, "film_right": self.film_right,
                "box_missed": self.box_missed, "disagrees_with_label": self.disagrees_with_label,
                "not_verified": self.not_verified, "iou": None if self.iou is None else round(self.iou, 3),
                "note": " ".join(self.notes)}


def score(film: Film, reader: str, abnormal: bool | None, finding: str | None, zone: str | None) -> Result:
    """Score one answer against the film's reference, as strictly as the reference allows."""
    result = Result(film, reader, abnormal, finding, zone, None, None, None)
    notes = result.notes
    if not film.boxed:
        if abnormal is None:
            notes.append("No clear answer: a finding or none of these findings.")
            return result
        result.disagrees_with_label = abnormal
        if abnormal:
            notes.append('NIH labelled this film "No Finding", text-mined from its report, not a radiologist\'s '
                         "review of the film: the call disagrees with the report's label, which can be wrong, so "
                         "it is counted apart and not as a wrong film.")
        return result
    boxed = ", ".join(film.findings)
    result.film_right = result.finding_right = False
    result.box_missed = not (abnormal and finding in film.findings)  # normal, another finding, or no clear answer
    if abnormal is None:
        notes.append(f"No clear answer; the radiologist boxed {boxed}.")
    elif not abnormal:
        notes.append(f"Missed: the radiologist boxed {boxed} on this film.")
    elif finding is None:
        notes.append(f"No finding named; the radiologist boxed {boxed}.")
    elif finding not in film.findings:
        result.not_verified = finding
        notes.append(f"The radiologist boxed {boxed}, not {finding}: the boxed finding is missed. The {finding} named "
                     "is not verified either way: nobody reviewed this film for findings other than the boxed ones.")
    else:
        result.finding_right = True
        references = [r for r in film.boxes if r.finding == finding]  # Infiltrate and Pneumonia boxes: two
        places = tuple(dict.fromkeys(z for r in references for z in right_zones(finding, r.box, film.width,
                                                                                film.height)))
        diffuse = [r for r in references if is_diffuse(finding, r.box, film.width, film.height)]
        if zone is not None and zone in places:
            result.place_right = True
        elif diffuse:
            notes.append(f"The {finding} box is {film.place(diffuse[0])}.")
        elif zone is None:
            result.place_right = False
            notes.append(f"No place given; the {finding} is in the {' or '.join(places)}.")
        else:
            result.place_right = False
            notes.append(f"The {finding} is in the {' or '.join(places)}, not the {zone}.")
        result.film_right = result.place_right is not False
    return result


# ---------------------------------------------------------------- MedGemma's answer


def drill_prompt(findings: Sequence[str] = FINDINGS) -> str:
    """The question MedGemma is asked about each film (the vocabulary listed)."""
    return DRILL_PROMPT.format(findings=", ".join(findings))


def parse_answer(text: str, findings: Sequence[str] = FINDINGS) -> tuple[bool | None, str | None]:
    """(abnormal, finding) from MedGemma's two-line answer; None where it does not say.

    Of several findings on the Finding line, the first one written is taken, as a reader would read it.
    """
    answer = split_thinking(text or "")[0]
    said = re.search(r"abnormal(?:ity)?\W{0,4}(yes|no)\b", answer, re.IGNORECASE)
    line = re.search(r"finding\W{0,4}([^\n]*)", answer, re.IGNORECASE)
    named = None
    if line is not None:
        found = []
        for name in findings:
            for word in (name, *_SPELLINGS.get(name, ())):
                match = re.search(rf"\b{re.escape(word)}(?:e?s)?\b", line.group(1), re.IGNORECASE)
                if match:
                    found.append((match.start(), name))
        named = min(found)[1] if found else None
    if said is not None:
        abnormal = said.group(1).lower() == "yes"
        return abnormal, named if abnormal else None
    return (True, named) if named is not None else (None, None)


def _scaled(box: Box, film: Film, picture: Image.Image) -> Box:
    """A box given in the film's listed pixels, on the picture as loaded (the same unless the file was resized)."""
    sx, sy = picture.width / film.width, picture.height / film.height
    return Box(box.label, box.x0 * sx, box.y0 * sy, box.x1 * sx, box.y1 * sy)


def ask_medgemma(film: Film, model: Any, findings: Sequence[str] = FINDINGS, *,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> Result:
    """MedGemma's answer to the drill's question and, for a finding it names, its box (mh.localize); scored.

    Its place is the zone holding its box's centre, scored as a resident's zone is; its box's IoU with the
    radiologist's box of that finding is shown beside.
    """
    picture = film.picture()
    answer = analyze(model_image(picture, modality=MODALITY), drill_prompt(findings), model=model,
                     max_new_tokens=max_new_tokens, stream=False)
    abnormal, finding = parse_answer(answer.text, findings)
    box, notes = None, []
    if abnormal and finding is not None:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # localize's notes about unusable boxes go into the result
            _, boxes = localize(picture, finding, model=model, modality=MODALITY, max_new_tokens=max_new_tokens,
                                stream=False)
        if boxes:
            # Back in the film's listed pixels, where the radiologist's boxes are.
            sx, sy = film.width / picture.width, film.height / picture.height
            first = boxes[0]
            box = Box(f"MedGemma: {finding}", first.x0 * sx, first.y0 * sy, first.x1 * sx, first.y1 * sy)
        else:
            notes.append(f"MedGemma named {finding} but gave no usable box: no place given.")
    zone = box_centre_zone(box, film.width, film.height) if box is not None else None
    result = score(film, MEDGEMMA, abnormal, finding, zone)
    result.notes = notes + result.notes
    result.box, result.answer_text = box, answer.text
    references = [r.box for r in film.boxes if r.finding == finding]
    if box is not None and references:
        result.iou = max(iou(box, reference) for reference in references)
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
    """The film with the zone grid, the radiologist's boxes and MedGemma's box drawn on it."""
    canvas = film.picture()
    _grid(canvas)
    boxes = [r.box for r in film.boxes] + ([medgemma.box] if medgemma is not None and medgemma.box else [])
    return draw_boxes(canvas, [_scaled(box, film, canvas) for box in boxes])


def _png(image: Image.Image, size: int = 640) -> bytes:
    shown = image.copy()
    shown.thumbnail((size, size))
    buffer = io.BytesIO()
    shown.save(buffer, format="PNG")
    return buffer.getvalue()


def _mark(value: bool | None) -> str:
    return {True: "right", False: "wrong", None: "not scored"}[value]


def _label_mark(result: Result) -> str:
    return {True: "disagrees", False: "agrees", None: "-"}[result.disagrees_with_label]


def _said(result: Result) -> str:
    if result.abnormal is None:
        return "no clear answer"
    if not result.abnormal:
        return NONE_OF_THESE
    return f"{result.finding or 'abnormal, no finding named'}, {result.zone or 'no place'}"


def _reference_lines(film: Film) -> list[str]:
    """The reference in words: each box's finding, place and NIH label; NIH's labels for the whole film."""
    facts = ", ".join(part for part in (film.view, film.age.lstrip("0"), film.sex) if part)
    lines = [f"{film.image}{f' ({facts})' if facts else ''}: the reference is "
             + ("a radiologist's box" + ("es" if len(film.boxes) > 1 else "") if film.boxed else
                "NIH's label, text-mined from the report: No Finding. It is not a radiologist's review of the film: "
                "an abnormal call is counted as disagreeing with the label, not as wrong.")]
    for reference in film.boxes:
        lines.append(f"{reference.finding}: {film.place(reference)} (NIH label, text-mined: {reference.nih_label})")
    if film.boxed and film.nih_labels:
        lines.append(f"NIH's labels for the whole film, text-mined from its report: "
                     f"{film.nih_labels.replace('|', ', ')}. Only the boxed findings are scored.")
    return lines


def result_html(results: Sequence[Result]) -> str:
    """The reveal for one film: the reference, then each reader's answer and marks (every value escaped)."""
    film = results[0].film
    first, *rest = _reference_lines(film)
    cell = "padding:3px 8px;border:1px solid #bbb;text-align:left"
    head = "".join(f"<th style='{cell}'>{esc(h)}</th>" for h in
                   ("Reader", "Said", "Finding", "Place", "Film", "Report's label", "Box IoU", "Notes"))
    body = ""
    for result in results:
        overlap = "" if result.iou is None else f"{result.iou:.2f}"
        body += (f"<tr><td style='{cell}'>{esc(result.reader)}</td><td style='{cell}'>{esc(_said(result))}</td>"
                 + "".join(f"<td style='{cell}'>{_mark(v)}</td>" for v in
                           (result.finding_right, result.place_right, result.film_right))
                 + f"<td style='{cell}'>{_label_mark(result)}</td><td style='{cell}'>{overlap}</td>"
                 f"<td style='{cell}'>{esc(' '.join(result.notes))}</td></tr>")
    answers = "".join(f"<p><b>MedGemma's answer:</b> <span style='white-space:pre-wrap'>{esc(r.answer_text)}</span>"
                      "</p>" for r in results if r.reader == MEDGEMMA and r.answer_text)
    details = "".join(f"<li>{esc(line)}</li>" for line in rest)
    return (f"<div class='mh-drill-reveal'><p><b>{esc(first)}</b></p>{f'<ul>{details}</ul>' if details else ''}"
            f"<table class='mh-drill-marks' style='border-collapse:collapse'><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>{answers}</div>")


def result_text(results: Sequence[Result]) -> str:
    """The reveal for one film as plain text."""
    lines = _reference_lines(results[0].film)
    lines[1:] = [f"  {line}" for line in lines[1:]]
    for r in results:
        overlap = "" if r.iou is None else f", box IoU {r.iou:.2f}"
        label = f", report's label: {_label_mark(r)}" if r.disagrees_with_label is not None else ""
        lines.append(f"  {r.reader}: {_said(r)}; finding {_mark(r.finding_right)}, place {_mark(r.place_right)}, "
                     f"film {_mark(r.film_right)}{label}{overlap}. {' '.join(r.notes)}".rstrip())
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
    """A bar chart of the tally (the share per measure, the resident beside MedGemma), as PNG."""
    from matplotlib.figure import Figure

    readers = [reader for reader in (YOU, MEDGEMMA) if any(row["reader"] == reader for row in rows)]
    measures = list(tally_counts(rows, YOU))
    figure = Figure(figsize=(8, 3), dpi=100)
    axes = figure.subplots()
    width = 0.8 / max(1, len(readers))
    for index, reader in enumerate(readers):
        counts = tally_counts(rows, reader)
        shares = [part / whole if whole else 0.0 for part, whole in counts.values()]
        positions = [number + index * width for number in range(len(measures))]
        axes.bar(positions, shares, width, label=reader, color=("#4a7ab5", "#e69f00")[index])
        for x, (part, whole) in zip(positions, counts.values()):
            axes.text(x, 0.02, f"{part}/{whole}", ha="center", va="bottom", fontsize=8)
    axes.set_xticks([number + width * (len(readers) - 1) / 2 for number in range(len(measures))],
                    [measure.replace(" with ", "\nwith ") for measure in measures], fontsize=7)
    axes.set_ylim(0, 1)
    axes.set_ylabel("share of the films it counts", fontsize=8)
    axes.set_title("Drill tally", fontsize=10)
    if readers:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ---------------------------------------------------------------- the drill

_CHOOSE = "(choose)"


class Drill:
    """A run of unknown films: answer each (d.answer or the widgets), see the reference and MedGemma's answer."""

    def __init__(self, films: Sequence[Film], model: Any = None, listed: str = DRILL_FILMS_NAME):
        self.films = list(films)
        self.findings = list(FINDINGS)  # the fixed vocabulary, never taken from the films drawn
        self.model = model
        self.listed = listed
        self.index = 0
        self.results: list[Result] = []
        self.model_results: list[Result] = []
        self.refused: list[tuple[Film, str]] = []  # films not shown: their file was not the pinned one
        self.widget: Any = None
        self._pending: dict[str, Future] = {}  # MedGemma's answer, started while the resident looks at the film

    @property
    def current(self) -> Film | None:
        """The film to answer now (None when the drill is done)."""
        return self.films[self.index] if self.index < len(self.films) else None

    def _medgemma(self) -> Any:
        return self.model if self.model is not None else access.latest()

    def answer(self, abnormal: bool, finding: str | None = None, zone: str | None = None) -> Result:
        """Answer the current film: abnormal or not ("none of these findings"), which finding, which zone; move on.

        Returns the film's marks. A finding named with no zone is scored as no place given (place wrong).
        """
        film = self.current
        if film is None:
            raise InputError(f"The drill is done: all {len(self.films)} films are answered. See d.tally().")
        if not isinstance(abnormal, bool):
            raise InputError(f"abnormal must be True or False ({NONE_OF_THESE!r}), not {abnormal!r}.")
        given = finding is not None and str(finding).strip()
        name = normal_finding(str(finding)) if given else None
        place = normal_zone(zone) if zone is not None and str(zone).strip() else None
        if not abnormal and (name or place):
            raise InputError(f"d.answer(False) is {NONE_OF_THESE!r}: it names no finding and no zone. Give "
                             "abnormal=True with them.")
        results = self._work_out(film, abnormal, name, place)
        self._record(film, results)
        return results[0]

    def _work_out(self, film: Film, abnormal: bool, finding: str | None, zone: str | None) -> list[Result]:
        """The resident's result and MedGemma's (if loaded), recorded nowhere yet."""
        medgemma = self._medgemma()
        mine = score(film, YOU, abnormal, finding, zone)
        if medgemma is None:
            return [mine]
        return [mine, self._medgemma_result(film, medgemma, self._pending.get(film.image))]

    def _record(self, film: Film, results: list[Result]) -> None:
        """Record a film's results, both at once, and move on to the next film."""
        self._pending.pop(film.image, None)
        self.results.append(results[0])
        self.model_results += results[1:]
        self.index += 1

    def _medgemma_result(self, film: Film, medgemma: Any, started: Future | None = None) -> Result:
        """MedGemma's scored answer (the one started in the background, if any); a refusal becomes a note."""
        try:
            return started.result() if started is not None else ask_medgemma(film, medgemma)
        # Any failure (a pack recorded without this film, out of memory, a lost connection): say so, keep the
        # drill going, and never leave a film's results half-written.
        except Exception as error:
            missing = score(film, MEDGEMMA, None, None, None)
            missing.notes = [f"MedGemma could not answer: {error}"]
            missing.film_right = missing.finding_right = missing.box_missed = None  # nothing said: nothing marked
            return missing

    def _start_medgemma(self) -> None:
        """Start MedGemma on the current film while the resident reads it (one model worker, shared with quizzes)."""
        film, medgemma = self.current, self._medgemma()
        if film is not None and medgemma is not None and film.image not in self._pending:
            self._pending[film.image] = _executor().submit(ask_medgemma, film, medgemma)

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
        refused = "".join(f"<p style='color:#a33'>Not shown: {esc(reason)}</p>" for _, reason in self.refused)
        show_html(f"<div class='mh-drill-summary'>{tally_html(rows)}{chart}{refused}"
                  f"<p style='color:#a33'>{esc(DISCLAIMER)}</p></div>", f"{tally_text(rows)}\n{DISCLAIMER}")
        return rows

    def save(self, alias: str, folder: str | Path | None = None) -> Path:
        """Save the drill's rows under an alias as a small JSON record, for the class review (mh.drill_review)."""
        alias = _clean_alias(alias)
        record = {"format": DRILL_RECORD_FORMAT, "format_version": DRILL_RECORD_VERSION, "alias": alias,
                  "films_list": self.listed, "rows": self.tally(),
                  "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "project_version": __version__}
        path = reads_folder(folder) / f"drill_{alias_file_stem(alias, 'resident')}.json"  # one file per alias
        write_atomically(path, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        return path

    # ------------------------------------------------------------ widgets

    def build_widgets(self) -> Any:
        """The drill's widgets: the film, the commitment (a finding or none, the zone grid), the reveal, the tally."""
        import ipywidgets as widgets

        self._film_view = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self._status = widgets.HTML()
        self._call = widgets.Dropdown(options=[_CHOOSE, *self.findings, NONE_OF_THESE], description="Your call:")
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
        self._next.on_click(lambda _: self._next_clicked())
        self.widget = widgets.VBox([
            self._status, self._film_view, widgets.HTML(f"<p><i>{esc(SIDE_NOTE)}</i></p>"), self._call,
            widgets.HTML("<b>Where (the patient's sides):</b>"), self._zone_grid,
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

    def _next_clicked(self) -> None:
        film = self.current
        if film is not None and any(refused is film for refused, _ in self.refused):
            self.index += 1  # a refused film is passed over, never answered
        self._show_current()

    def _show_current(self) -> None:
        film = self.current
        self._reveal.value = ""
        self._next.disabled = True
        self._film_view.value = b""
        if film is None:
            self._status.value = f"<h4>Done: {len(self.films)} films.</h4>"
            self._commit.disabled = True
            return
        self._status.value = f"<h4>Film {self.index + 1} of {len(self.films)}</h4>"
        try:
            picture = film.picture()  # sha256-checked: a film that is not the pinned one is never shown
        except MedGemmaError as error:
            self.refused.append((film, f"film {self.index + 1}, {film.image}: {error}"))
            self._reveal.value = (f"<p style='color:#a33'><b>Film {self.index + 1} is not shown:</b> {esc(error)}</p>"
                                  "<p>Press Next film to go on without it.</p>")
            self._commit.disabled = True
            self._next.disabled = False
            return
        self._film_view.value = _png(picture)
        self._start_medgemma()
        self._call.value = _CHOOSE
        for button in self._zone_buttons.values():
            button.value = False
        self._commit.disabled = False

    def _commit_clicked(self) -> None:
        call = self._call.value
        zone = next((zone for zone, button in self._zone_buttons.items() if button.value), None)
        if call == _CHOOSE:
            self._reveal.value = f"<p style='color:#a33'>Commit first: a finding, or {esc(NONE_OF_THESE)}.</p>"
            return
        if call != NONE_OF_THESE and zone is None:
            self._reveal.value = "<p style='color:#a33'>Where is it? Press the zone first.</p>"
            return
        film = self.current
        self._commit.disabled = True
        self._reveal.value = "<p><i>Revealing (MedGemma is reading the film)…</i></p>"
        abnormal = call != NONE_OF_THESE
        assert film is not None  # Commit is enabled only while a film is shown
        try:
            results = self._work_out(film, abnormal, normal_finding(call) if abnormal else None,
                                     zone if abnormal else None)
            # Drawn before anything is recorded: a film that cannot be revealed stays the current one, unanswered.
            shown = reveal_image(film, results[1] if len(results) > 1 else None)
        except MedGemmaError as error:
            self._reveal.value = f"<p style='color:#a33'><b>Could not reveal:</b> {esc(error)}</p>"
            self._commit.disabled = False
            return
        self._record(film, results)
        self._film_view.value = _png(shown)
        extra = "" if any(r.reader == MEDGEMMA for r in results) else \
            "<p><i>No MedGemma loaded: only your answer is scored.</i></p>"
        self._reveal.value = result_html(results) + extra
        self._tally.value = tally_html(self.tally())
        self._next.disabled = self.current is None
        if self.current is None:
            self._status.value = f"<h4>Done: {len(self.films)} films. Run the tally cell below.</h4>"

    def walk_through(self) -> None:
        """Show every film's reference and MedGemma's answer at once (a teacher's walkthrough, or a headless run)."""
        medgemma = self._medgemma()
        for number, film in enumerate(self.films, 1):
            try:
                shown = reveal_image(film) if in_notebook() else None  # refused here, before anything is shown
            except ImageError as error:
                self.refused.append((film, f"film {number}, {film.image}: {error}"))
                show_html(f"<p style='color:#a33'><b>Film {number} is not shown:</b> {esc(error)}</p>",
                          f"Film {number} is not shown: {error}")
                continue
            results = [self._medgemma_result(film, medgemma)] if medgemma is not None else []
            self.model_results += results
            if shown is not None:
                from IPython.display import display

                shown = reveal_image(film, results[0]) if results else shown
                shown.thumbnail((512, 512))  # drawn at full size, shown at a screen's
                display(shown)
            show_html(f"<h4>Film {number} of {len(self.films)}</h4>" + (result_html(results) if results else
                      "".join(f"<p>{esc(line)}</p>" for line in _reference_lines(film))),
                      f"Film {number}: " + (result_text(results) if results else "\n".join(_reference_lines(film))))
        self.index = len(self.films)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            film = self.current
            return {"text/plain": f"Drill of {len(self.films)} films"
                    + (f": answer film {self.index + 1} with d.answer(abnormal, finding, zone)" if film else ": done")}
        return self.widget._repr_mimebundle_(**kwargs)


def drill(films: str | Path | Sequence[Film] | None = None, n: int = 10, *,
          finding: str | Sequence[str] | None = None, view: str | None = "PA", several_findings: bool = False,
          model: Any = None, seed: int | None = None) -> Drill:
    """A drill of n unknown films, balanced across the findings; a seed fixes the films and their order.

    films: the project's list (None), a teacher's CSV in the same format, or Films. finding: one finding of the
    vocabulary (or "none of these findings"), or a list of them; view: "PA" (the default), "AP", or None for both;
    several_findings=True lets in films with boxes for more than one finding. In a notebook it shows the film and
    the commitment widgets; a teacher's walkthrough (MEDGEMMA_SHOW_ALL, or a headless run) shows every film's
    reference and MedGemma's answer at once. Elsewhere answer with d.answer(...).
    """
    listed = Path(films).name if isinstance(films, (str, Path)) else DRILL_FILMS_NAME
    chosen, note = draw_films(films, n, finding=finding, view=view, several_findings=several_findings, seed=seed)
    made = Drill(chosen, model, listed)
    if note:
        print(note)
    if in_notebook():
        if read_first_mode():
            try:
                made.build_widgets()
            except ImportError:
                print("ipywidgets is not installed: answer with d.answer(abnormal, finding, zone).")
        else:
            made.walk_through()
    else:
        print(f"A drill of {len(chosen)} films. {SIDE_NOTE} Answer each with d.answer(True, finding, zone), or "
              f"d.answer(False) for {NONE_OF_THESE}; findings: {', '.join(made.findings)}; zones: {', '.join(ZONES)}.")
    return made
