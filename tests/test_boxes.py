"""Reading MedGemma 1.5 localisation answers back into original-image pixels."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from medgemma_helpers import localisation as boxes
from medgemma_helpers.localisation import Box, BoxParseWarning, parse_boxes
from medgemma_helpers.pixels import pad_square


def model_answer(items: list[dict], *, reasoning: str = "The heart lies left of midline.") -> str:
    """An answer shaped like MedGemma 1.5's: reasoning, then 'Final Answer:' and a ```json block."""
    return f"{reasoning}\n\nFinal Answer: ```json\n{json.dumps(items)}\n```"


def to_padded_units(box: Box, width: int, height: int) -> list[float]:
    """Hand-computed [y0, x0, y1, x1] in 0-1000 of the centred padded square (independent of the module)."""
    side = max(width, height)
    dx, dy = (side - width) // 2, (side - height) // 2
    return [(box.y0 + dy) * 1000 / side, (box.x0 + dx) * 1000 / side,
            (box.y1 + dy) * 1000 / side, (box.x1 + dx) * 1000 / side]


@pytest.mark.parametrize("size", [(600, 1000), (1000, 600), (2000, 1000), (743, 1021), (800, 800)],
                         ids=["portrait", "landscape", "wide", "odd-portrait", "square"])
def test_round_trip_through_padding(size):
    width, height = size
    truth = [Box("right lung", 0.1 * width, 0.15 * height, 0.45 * width, 0.8 * height),
             Box("heart", 0.4 * width, 0.5 * height, 0.7 * width, 0.85 * height)]
    items = [{"box_2d": [round(v) for v in to_padded_units(b, width, height)], "label": b.label} for b in truth]
    found = parse_boxes(model_answer(items), Image.new("RGB", size))
    # Integer 0-1000 coordinates are 1/1000 of the square's side apart: that is the best precision possible.
    tolerance = max(width, height) / 1000 / 2 + 1e-9
    assert [b.label for b in found] == ["right lung", "heart"]
    for got, want in zip(found, truth, strict=True):
        for field in ("x0", "y0", "x1", "y1"):
            assert abs(getattr(got, field) - getattr(want, field)) <= tolerance


def test_round_trip_is_pixel_exact_when_the_grid_allows():
    # Side 2000: each 0-1000 unit is exactly 2 px, and the 400 px horizontal offset is whole units.
    width, height = 1200, 2000
    truth = Box("left clavicle", 640, 200, 1000, 420)
    items = [{"box_2d": to_padded_units(truth, width, height), "label": truth.label}]
    assert items[0]["box_2d"] == [100, 520, 210, 700]
    assert parse_boxes(model_answer(items), (width, height)) == [truth]
    assert boxes.to_box_2d(truth, (width, height)) == [100, 520, 210, 700]


def test_matches_what_pad_square_does():
    # A white block drawn on the original must sit where the parsed box says, after real padding.
    original = Image.new("RGB", (300, 500))
    original.paste((255, 255, 255), (30, 100, 90, 200))
    square = np.asarray(pad_square(original))
    rows, cols = np.nonzero(square[..., 0])
    side = square.shape[0]
    box_2d = [rows.min() * 1000 / side, cols.min() * 1000 / side, (rows.max() + 1) * 1000 / side,
              (cols.max() + 1) * 1000 / side]
    (found,) = parse_boxes(model_answer([{"box_2d": box_2d, "label": "block"}]), original)
    assert (found.x0, found.y0, found.x1, found.y1) == pytest.approx((30, 100, 90, 200))


def test_unpadded_scales_each_axis():
    (found,) = parse_boxes(model_answer([{"box_2d": [100, 250, 500, 750], "label": "x"}]), (400, 1000),
                           padded=False)
    assert (found.x0, found.y0, found.x1, found.y1) == (100, 100, 300, 500)


def test_thinking_trace_is_ignored():
    decoy = '```json\n[{"box_2d": [0, 0, 10, 10], "label": "draft"}]\n```'
    text = (f"<unused94>thought\nMaybe the box is {decoy}<unused95>"
            + model_answer([{"box_2d": [100, 100, 200, 200], "label": "trachea"}]))
    assert [b.label for b in parse_boxes(text, (1000, 1000))] == ["trachea"]


def test_unterminated_thinking_trace_leaves_nothing():
    text = model_answer([{"box_2d": [1, 1, 2, 2], "label": "x"}], reasoning="<unused94>thought\nStill thinking")
    with pytest.warns(BoxParseWarning, match="No boxes"):
        assert parse_boxes(text, (100, 100)) == []


def test_last_parseable_block_wins():
    text = ("Draft: ```json\n[{\"box_2d\": [0, 0, 100, 100], \"label\": \"draft\"}]\n```\n"
            "Final Answer: ```json\n[{\"box_2d\": [500, 500, 600, 600], \"label\": \"final\"}]\n```\n"
            "Note: ```json\n[{\"box_2d\": [1, 2, oops]\n```")
    assert [b.label for b in parse_boxes(text, (1000, 1000))] == ["final"]


def test_google_inline_format_and_trailing_comma():
    text = 'Final Answer: ```json[{"box_2d": [800, 3, 840, 471], "label": "car"},]```'
    (found,) = parse_boxes(text, (1000, 1000))
    assert (found.label, found.x0, found.y0, found.x1, found.y1) == ("car", 3, 800, 471, 840)


def test_bare_json_list_without_fence():
    text = 'Final Answer: [{"box_2d": [100, 200, 300, 400], "label": "aortic knob"}]'
    (found,) = parse_boxes(text, (1000, 1000))
    assert found == Box("aortic knob", 200, 100, 400, 300)


def test_malformed_json_gives_empty_list_and_a_message():
    text = 'Final Answer: ```json\n[{"box_2d": [100, 200, 300, "label": "heart"}\n```'
    with pytest.warns(BoxParseWarning, match="did not parse"):
        assert parse_boxes(text, (1000, 1000)) == []


def test_no_json_gives_empty_list_and_a_message():
    with pytest.warns(BoxParseWarning, match="no ```json block"):
        assert parse_boxes("I cannot localise this structure.", Image.new("L", (64, 64))) == []
    with pytest.warns(BoxParseWarning):
        assert parse_boxes("", (64, 64)) == []


def test_invalid_items_are_skipped_and_reversed_corners_swapped():
    items = [{"box_2d": [100, 100, 200], "label": "too short"},
             {"box_2d": [100, "left", 200, 300], "label": "not numeric"},
             {"box_2d": [True, 0, 1, 1], "label": "boolean"},
             "not even a dict",
             {"box_2d": [400, 300, 200, 100], "label": "reversed"},
             {"box_2d": [-50, 0, 1200, 1000]}]
    with pytest.warns(BoxParseWarning, match="Skipped 4 of 6"):
        found = parse_boxes(model_answer(items), (1000, 1000))
    assert found == [Box("reversed", 100, 200, 300, 400), Box("", 0, 0, 1000, 1000)]


def test_box_in_padding_is_skipped():
    # A portrait 500 x 1000 image padded to 1000: x 0..250 units is left padding.
    with pytest.warns(BoxParseWarning, match="padding"):
        assert parse_boxes(model_answer([{"box_2d": [100, 10, 200, 200], "label": "ghost"}]), (500, 1000)) == []


def test_clean_answer_raises_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(parse_boxes(model_answer([{"box_2d": [1, 1, 2, 2], "label": "a"}]), (10, 10))) == 1


def test_prompt_formats_with_the_structures():
    prompt = boxes.LOCALISATION_PROMPT.format(structures="right clavicle")
    assert "Where is the right clavicle?" in prompt
    assert '```json[{"box_2d": [800, 3, 840, 471], "label": "car"}' in prompt
    assert "[y0, x0, y1, x1]" in prompt and "[0, 1000]" in prompt and "Final Answer" in prompt


def test_draw_boxes_draws_on_a_copy():
    image = Image.new("L", (200, 100))
    drawn = boxes.draw_boxes(image, [Box("heart", 20, 30, 80, 90), Box("", 120, 10, 180, 60)])
    assert drawn.mode == "RGB" and drawn.size == (200, 100)
    assert image.getextrema() == (0, 0)  # the original is untouched
    pixels = np.asarray(drawn)
    assert tuple(pixels[60, 20]) == boxes.COLOURS[0]  # left edge of the first box
    assert tuple(pixels[10, 150]) == boxes.COLOURS[1]  # top edge of the second, unlabelled box
    assert pixels[60, 50].sum() == 0 and pixels[35, 150].sum() == 0  # insides stay clear
