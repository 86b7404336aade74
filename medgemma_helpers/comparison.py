"""Prior versus current: two studies of one patient in one prompt (prior first), and the change table back.

The films of one real patient over time are listed as data (cases/longitudinal_films.csv, pinned and sha256-checked
like the case images), so notebook 09 opens with a true prior-current pair.

Layer: skills. May import: errors, render, images, figures, asking, cases, case_images.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .asking import DEFAULT_MAX_NEW_TOKENS, Findings, analyze, split_thinking
from .case_images import verified_image_path
from .cases import CASES_DIR, SHA256_PATTERN, CaseImage, cases_dir
from .errors import CaseError
from .figures import side_by_side
from .images import load_image, model_image
from .render import esc, in_notebook, show_html

SERIES_FILE = "longitudinal_films.csv"
# Notebook 09's identity exercise: two cases' films that are not one patient's, compared as if they were (a class
# pack records that request too).
IDENTITY_PAIR = ("01", "03")
_SERIES_COLUMNS = ("file", "patient", "follow_up", "nih_labels", "shows", "sha256", "size_bytes", "url", "licence",
                   "attribution")
_METADATA_COLUMNS = ("age", "sex", "view")  # optional: a teacher's own series may not have them


@dataclass(frozen=True)
class SeriesFilm:
    """One film of a patient followed over time: where it comes from (pinned, sha256) and what it shows."""

    image: CaseImage
    patient: str
    follow_up: int
    nih_labels: str
    shows: str  # what the project's own review of the film sees
    # What NIH's metadata (Data_Entry_2017.csv) records, where the series file gives it ("" when it does not).
    age: str = ""
    sex: str = ""
    view: str = ""


def _series_path() -> Path:
    # A teacher's case folder may bring its own series; otherwise the project's.
    own = cases_dir() / SERIES_FILE
    return own if own.is_file() else CASES_DIR / SERIES_FILE


def series_films(path: str | Path | None = None) -> list[SeriesFilm]:
    """The films of one patient over time, in follow-up order, each row checked (CaseError names the row)."""
    path = Path(path) if path else _series_path()
    with path.open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table))
    films = []
    for number, row in enumerate(rows, 2):
        missing = [column for column in _SERIES_COLUMNS if not (row.get(column) or "").strip()]
        where = f"{path.name}, row {number}"
        if missing:
            raise CaseError(f"{where}: {', '.join(missing)} missing; every film needs {', '.join(_SERIES_COLUMNS)}.")
        if not SHA256_PATTERN.fullmatch(row["sha256"]) or not row["url"].startswith("https://"):
            raise CaseError(f"{where}: sha256 must be 64 lowercase hex digits and url a pinned https:// address.")
        if not (row["follow_up"].isdigit() and row["size_bytes"].isdigit()) or "/" in row["file"] or \
                "\\" in row["file"] or row["file"].startswith("."):
            raise CaseError(f"{where}: follow_up and size_bytes must be whole numbers and file a plain file name.")
        image = CaseImage(file=row["file"], url=row["url"], sha256=row["sha256"], size_bytes=int(row["size_bytes"]),
                          licence=row["licence"], attribution=row["attribution"], source_label=row["nih_labels"])
        films.append(SeriesFilm(image, row["patient"], int(row["follow_up"]), row["nih_labels"], row["shows"],
                                *((row.get(column) or "").strip() for column in _METADATA_COLUMNS)))
    if len({film.patient for film in films}) != 1 or len(films) < 2:
        raise CaseError(f"{path.name} must list at least two films of one patient.")
    return sorted(films, key=lambda film: film.follow_up)


def series_image(film: SeriesFilm) -> Image.Image:
    """One series film as 8-bit RGB, from the mirror, images/ or its pinned download, always sha256-checked."""
    return load_image(verified_image_path(film.image))

COMPARISON_PROMPT = (
    "The first image is the prior chest X-ray and the second image is the current chest X-ray of the same patient. "
    "Provide a comparison of these two images and include details from the image which students should take note "
    "of when reading longitudinal CXR. End with a Markdown table with the columns Finding | Change | Details, where "
    "Change is one of improved, stable, worsened, new or resolved."
)


CHANGE_WORDS = ("improved", "stable", "worsened", "new", "resolved")


@dataclass(frozen=True)
class Change:
    """One row of a prior-versus-current change table."""

    finding: str
    change: str  # one of CHANGE_WORDS
    details: str


def parse_changes(text: str) -> list[Change]:
    """The change table from a comparison answer (Markdown table rows whose change is a known word)."""
    changes = []
    for line in split_thinking(text or "")[0].splitlines():
        cells = [cell.strip(" *_`") for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(line.strip()) <= set("|-: "):
            continue
        word = cells[1].lower()
        normalised = {"unchanged": "stable", "worse": "worsened", "better": "improved", "progressed": "worsened",
                      "increased": "worsened", "decreased": "improved"}.get(word, word)
        if normalised in CHANGE_WORDS and cells[0]:
            changes.append(Change(cells[0], normalised, cells[2] if len(cells) > 2 else ""))
    return changes


_CHANGE_COLOURS = {"improved": "#d4edda", "resolved": "#d4edda", "stable": "#e2e3e5", "worsened": "#f8d7da",
                   "new": "#f8d7da"}


def changes_html(changes: list[Change]) -> str:
    """The change table as colour-coded HTML (every cell escaped)."""
    if not changes:
        return "<p><i>The answer holds no change table (improved / stable / worsened).</i></p>"
    rows = "".join(f"<tr style='background:{_CHANGE_COLOURS[c.change]};color:#222'><td>{esc(c.finding)}</td>"
                   f"<td>{esc(c.change)}</td><td>{esc(c.details)}</td></tr>" for c in changes)
    return f"<table class='mh-changes'><tr><th>Finding</th><th>Change</th><th>Details</th></tr>{rows}</table>"


def compare_studies(prior: Any, current: Any, prompt: str = COMPARISON_PROMPT, *, model: Any = None,
                    modality: str = "chest radiograph", max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                    stream: bool = True) -> tuple[Findings, list[Change]]:
    """Prior first, then current, then the question; returns the answer and its change table.

    Both studies go to the model prepared for their modality (chest films padded to a square).
    """
    images = [model_image(prior, modality=modality), model_image(current, modality=modality)]
    findings = analyze(images, prompt, model=model, max_new_tokens=max_new_tokens, stream=stream)
    changes = parse_changes(findings.text)
    show_html(changes_html(changes), "\n".join(f"{c.finding}: {c.change} {c.details}" for c in changes)
              or "(no change table in the answer)")
    return findings, changes


def pair_image(prior: Any, current: Any, *, labels: tuple[str, str] = ("Prior", "Current")) -> Image.Image:
    """The two studies side by side, labelled, as one image."""
    return side_by_side(load_image(prior), load_image(current), labels)


def show_pair(prior: Any, current: Any, *, labels: tuple[str, str] = ("Prior", "Current")) -> None:
    """Show the two studies side by side, labelled (in a terminal, print their sizes)."""
    canvas = pair_image(prior, current, labels=labels)
    if in_notebook():
        from IPython.display import display

        display(canvas)
    else:
        print(f"{labels[0]} and {labels[1]} side by side: {canvas.width} x {canvas.height} pixels.")
