"""Rebuild cases/drill_films.csv from the drill sources: every film NIH boxed, and the films NIH labelled normal.

Usage: python tools/make_drill_films.py [DRILLS_FOLDER]   (default: ../shared/drills beside the project)

The folder holds films.csv (twelve boxed films and seven "No Finding" films), nih_boxes.csv (the other 868 boxed
films, one row per box), more_normals.csv (nine more "No Finding" films) and NIH's full label table
Data_Entry_2017.csv.gz (view, age, sex and labels of the films that films.csv leaves blank). The list keeps one row
per box, so a film with several boxes has several rows. The boxed films all point at one repository (samadon1/radSIM
at one commit, where the twelve films of films.csv are byte-identical): one source to mirror.
"""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OUT = PROJECT_ROOT / "cases" / "drill_films.csv"
COLUMNS = ("image", "kind", "finding", "box_x", "box_y", "box_w", "box_h", "nih_labels", "view", "age", "sex",
           "width", "height", "sha256", "url")
BOXED_FILMS = ("https://raw.githubusercontent.com/samadon1/radSIM/e7ae5971e561e35a247826845876bc0258e0f7f9/"
               "public/cases/nih-learning/images/")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def build(folder: Path) -> list[dict[str, str]]:
    """The list's rows: boxes first (by image, then finding), then the normals, each with NIH's labels and view."""
    with gzip.open(folder / "Data_Entry_2017.csv.gz", "rt", newline="", encoding="utf-8") as handle:
        entries = {row["Image Index"]: row for row in csv.DictReader(handle)}
    rows = []
    for row in _read(folder / "films.csv") + _read(folder / "nih_boxes.csv") + _read(folder / "more_normals.csv"):
        entry = entries[row["image"]]
        row = dict(row)
        row["nih_labels"] = row["nih_labels"] or entry["Finding Labels"]
        row["view"] = row["view"] or entry["View Position"]
        row["age"] = row["age"] or f"{int(entry['Patient Age']):03d}Y"
        row["sex"] = row["sex"] or entry["Patient Gender"]
        if row["kind"] == "radiologist box":
            row["url"] = BOXED_FILMS + row["image"]  # one repository for every boxed film
        rows.append({column: row[column] for column in COLUMNS})
    boxed = sorted((r for r in rows if r["kind"] == "radiologist box"), key=lambda r: (r["image"], r["finding"]))
    normals = sorted((r for r in rows if r["kind"] != "radiologist box"), key=lambda r: r["image"])
    return boxed + normals


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT_ROOT.parent / "shared" / "drills"
    rows = build(folder)
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    boxes = [row for row in rows if row["kind"] == "radiologist box"]
    films = {row["image"] for row in boxes}
    print(f"Wrote {OUT}: {len(boxes)} boxes on {len(films)} films, and {len(rows) - len(boxes)} normals.")


if __name__ == "__main__":
    main()
