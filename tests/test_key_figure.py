"""The key drawn on the film: each present finding's region outlined, a miss marked, a wrong side drawn where the
read put it; checked on the picture's pixels."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import PROJECT_ROOT
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers.case_view import answer_key_html
from medgemma_helpers.key_figure import COLOURS, SHOWN_SIZE, draw_key, key_marks, mirrored

GREY = 90  # the stand-in film: one flat grey, so any coloured pixel was drawn


@pytest.fixture
def grey_films(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of the case files whose films are flat grey, at the size each case file declares (sha256 pinned)."""
    mirror, folder = tmp_path / "mirror", tmp_path / "cases"
    mirror.mkdir()
    folder.mkdir()
    for path in sorted((PROJECT_ROOT / "cases").glob("0*.yaml")):
        data = yaml.safe_load(path.read_text())
        if data.get("image"):
            film = mirror / data["image"]["file"]
            Image.new("L", tuple(data["image"]["size_px"]), GREY).save(film)
            data["image"]["sha256"] = hashlib.sha256(film.read_bytes()).hexdigest()
        (folder / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(mirror))
    monkeypatch.setenv("MEDGEMMA_CASES_DIR", str(folder))
    return folder


def _pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB")).astype(int)


def _count(pixels: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((np.abs(pixels - np.array(colour)).sum(axis=2) == 0).sum())


def _edge_colours(pixels: np.ndarray, box: tuple[int, int, int, int], scale: float) -> set[tuple[int, int, int]]:
    """The colours on the left edge of a box, along its middle third (clear of the labels at its corners)."""
    x = round(box[0] * scale)
    y0, y1 = round(box[1] * scale), round(box[3] * scale)
    rows = range(y0 + (y1 - y0) // 3, y0 + 2 * (y1 - y0) // 3)
    return {tuple(pixels[y, x + 1]) for y in rows}


def _flat(case_id: str) -> Image.Image:
    case = mh.load_case(case_id)
    assert case.image is not None and case.image.size_px is not None
    return Image.new("RGB", case.image.size_px, (GREY,) * 3)


def test_each_present_finding_is_outlined_on_the_film_in_the_key_colour():
    for case_id in ("02", "03", "04", "05"):
        case = mh.load_case(case_id)
        picture = draw_key(case, film=_flat(case_id))
        pixels = _pixels(picture)
        scale = picture.width / case.image.size_px[0]
        drawn = {f.name for f in case.answer_key.findings if f.regions}
        assert drawn == {f.name for f in case.answer_key.findings if f.expected == "present" and f.kind == "finding"}
        for finding in case.answer_key.findings:
            for box in finding.regions:
                assert tuple(COLOURS["key"]) in _edge_colours(pixels, box, scale), (case_id, finding.name, box)
        assert max(picture.size) <= SHOWN_SIZE and _count(pixels, COLOURS["missed"]) == 0


def test_the_film_inside_a_region_is_left_as_it_is():
    case = mh.load_case("02")
    [box] = next(f for f in case.answer_key.findings if f.name == "lung mass").regions
    pixels = _pixels(draw_key(case, film=_flat("02")))
    scale = SHOWN_SIZE / case.image.size_px[0]
    centre = pixels[round((box[1] + box[3]) / 2 * scale), round((box[0] + box[2]) / 2 * scale)]
    assert tuple(centre) == (GREY, GREY, GREY)
    outside = pixels[round(900 * scale), round(900 * scale)]
    assert tuple(outside) == (GREY, GREY, GREY)


def test_a_missed_finding_is_marked_missed_and_a_found_one_found():
    case = mh.load_case("03")
    checks = mh.check_findings("Small right pleural effusion. No pneumothorax.", case)
    picture = draw_key(case, checks, film=_flat("03"))
    pixels, scale = _pixels(picture), picture.width / 1024
    regions = {f.name: f.regions for f in case.answer_key.findings}
    assert COLOURS["found"] in _edge_colours(pixels, regions["pleural effusion"][0], scale)
    for missed in ("catheter",):
        for box in regions[missed]:
            assert COLOURS["missed"] in _edge_colours(pixels, box, scale), missed
    labels = {mark.label for mark in key_marks(case, checks)}
    assert "catheter: MISSED" in labels and "pleural effusion" in labels
    assert _count(pixels, COLOURS["wrong side"]) == 0


def test_a_wrong_side_finding_is_also_drawn_where_the_read_put_it():
    case = mh.load_case("03")
    checks = mh.check_findings("Left pleural effusion. A line in the right neck.", case)
    assert next(c for c in checks if c.finding == "pleural effusion").wrong_side
    picture = draw_key(case, checks, film=_flat("03"))
    pixels, scale = _pixels(picture), picture.width / 1024
    [key_box] = next(f for f in case.answer_key.findings if f.name == "pleural effusion").regions
    where_read = mirrored(key_box, 1024)
    assert where_read == (574, 490, 924, 780)  # the same rows, the other side of the midline
    assert COLOURS["wrong side"] in _edge_colours(pixels, where_read, scale)
    assert COLOURS["missed"] in _edge_colours(pixels, key_box, scale)  # the key's place, not found
    assert COLOURS["wrong side"] not in _edge_colours(pixels, key_box, scale)


def test_a_bilateral_read_of_a_one_sided_finding_is_drawn_on_the_other_side_too():
    case = mh.load_case("04")
    checks = mh.check_findings("Bilateral lines over the upper zones.", case)
    marks = [mark for mark in key_marks(case, checks) if mark.state == "wrong side"]
    [key_box] = next(f for f in case.answer_key.findings if f.name == "line or tube").regions
    assert [mark.box for mark in marks] == [mirrored(key_box, 1024)]


def test_the_picture_is_scaled_to_a_film_of_another_size():
    case = mh.load_case("02")
    small = Image.new("RGB", (256, 256), (GREY,) * 3)  # a copy at a quarter of the declared size
    picture = draw_key(case, film=small)
    assert picture.size == (256, 256)
    [box] = next(f for f in case.answer_key.findings if f.name == "lung mass").regions
    assert COLOURS["key"] in _edge_colours(_pixels(picture), box, 0.25)


def _shown_picture(markup: str) -> Image.Image:
    [data] = re.findall(r"<figure class='mh-key-figure'[^>]*><img src='data:image/png;base64,([^']+)'", markup)
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_the_revealed_key_and_the_handout_carry_the_picture(grey_films, tmp_path):
    case = mh.load_case("03")
    read = "Left pleural effusion. No pneumothorax."
    checks = mh.check_findings(read, case)
    shown = _pixels(_shown_picture(answer_key_html(case, checks)))
    assert _count(shown, COLOURS["wrong side"]) > 0 and _count(shown, COLOURS["missed"]) > 0
    plain = _pixels(_shown_picture(answer_key_html(case)))
    assert _count(plain, COLOURS["key"]) > 0 and _count(plain, COLOURS["wrong side"]) == 0
    handout = mh.export_handout(case, None, tmp_path / "handout.html", resident_read=read).read_text()
    assert "mh-key-figure" in handout
    assert _count(_pixels(_shown_picture(handout)), COLOURS["wrong side"]) > 0
    assert "purple: where your read put a finding" in handout


def test_a_case_without_regions_draws_nothing(grey_films):
    assert "mh-key-figure" not in answer_key_html(mh.load_case("01"))
    assert "mh-key-figure" not in answer_key_html(mh.load_case("06"))


def test_the_key_after_a_revision_marks_the_revised_read(grey_films):
    from medgemma_helpers.quizzes import comparison_html

    case = mh.load_case("03")
    first = _pixels(_shown_picture(comparison_html(case, None, "Left pleural effusion.")))
    assert _count(first, COLOURS["wrong side"]) > 0
    revised = comparison_html(case, None, "Left pleural effusion.", revised_read="Right pleural effusion.")
    pixels = _pixels(_shown_picture(revised))
    assert _count(pixels, COLOURS["wrong side"]) == 0 and _count(pixels, COLOURS["found"]) > 0
