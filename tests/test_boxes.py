"""Reading MedGemma 1.5 localisation answers back into original-image pixels."""

from __future__ import annotations

import json
import sys
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


@pytest.mark.parametrize("size", [(300, 500), (301, 500), (500, 301), (1001, 1998)])
def test_matches_what_pad_square_does(size):
    # A white block drawn on the original must sit where the parsed box says, after real padding; with an odd
    # difference pad_square centres with whole pixels (the extra pixel goes right or below), and boxes follow.
    original = Image.new("RGB", size)
    original.paste((255, 255, 255), (40, 60, 90, 120))
    square = np.asarray(pad_square(original))
    rows, cols = np.nonzero(square[..., 0])
    side = square.shape[0]
    box_2d = [rows.min() * 1000 / side, cols.min() * 1000 / side, (rows.max() + 1) * 1000 / side,
              (cols.max() + 1) * 1000 / side]
    (found,) = parse_boxes(model_answer([{"box_2d": box_2d, "label": "block"}]), original)
    assert (found.x0, found.y0, found.x1, found.y1) == pytest.approx((40, 60, 90, 120), abs=1e-6)
    assert boxes.to_box_2d(found, original) == pytest.approx(box_2d, abs=1e-6)


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


# ---------------------------------------------------------------- what the reader is told when boxes go wrong


def test_an_image_without_area_is_refused_by_name():
    for size in [(0, 100), (100, 0), (-5, 10)]:
        with pytest.raises(ValueError, match=r"Image size .* must be positive"):
            parse_boxes(model_answer([{"box_2d": [1, 1, 2, 2], "label": "a"}]), size)
    assert len(parse_boxes(model_answer([{"box_2d": [0, 0, 1000, 1000], "label": "a"}]), (1, 1))) == 1


def test_a_single_object_or_a_wrapped_list_is_read_too():
    single = 'Final Answer: ```json\n{"box_2d": [100, 200, 300, 400], "label": "heart"}\n```'
    assert parse_boxes(single, (1000, 1000)) == [Box("heart", 200, 100, 400, 300)]
    for key in ("boxes", "objects"):
        wrapped = f'Final Answer: ```json\n{{"{key}": [{{"box_2d": [100, 200, 300, 400], "label": "{key}"}}]}}\n```'
        assert parse_boxes(wrapped, (1000, 1000)) == [Box(key, 200, 100, 400, 300)]


@pytest.mark.parametrize("block", ['{"note": "no structure seen"}', '"none"', "42"])
def test_a_block_that_holds_no_box_list_is_named_as_such(block):
    with pytest.warns(BoxParseWarning) as caught:
        assert parse_boxes(f"Final Answer: ```json\n{block}\n```", (100, 100)) == []
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("No boxes found in the model's answer: 1 ```json block that did not parse as a JSON "
                              "list.")


def test_every_bad_block_is_counted():
    text = "```json\n[1, 2,\n```\nThen ```json\n{oops}\n```\nFinally ```json\nnull\n```"
    with pytest.warns(BoxParseWarning, match=r"3 ```json blocks that did not parse as a JSON list\. Try again, or "
                                             r"raise max_new_tokens if the answer was cut off\."):
        assert parse_boxes(text, (100, 100)) == []


def test_an_answer_with_no_json_says_exactly_that():
    with pytest.warns(BoxParseWarning, match=r"^No boxes found in the model's answer: no ```json block or JSON "
                                             r"list\. Try again"):
        assert parse_boxes("The heart is central.", (100, 100)) == []


def test_warnings_point_at_the_callers_line():
    if "mutmut" in sys.modules:
        pytest.skip("mutation testing wraps each function in a trampoline: one more stack frame")
    # A notebook user sees the warning against their own cell, not against the helper's source.
    with pytest.warns(BoxParseWarning) as caught:
        parse_boxes("nothing here", (100, 100))
        parse_boxes(model_answer([{"box_2d": [1, 2], "label": "short"}, {"box_2d": [1, 1, 2, 2]}]), (100, 100))
    assert [w.filename for w in caught] == [__file__, __file__]


def test_skipped_items_are_numbered_from_one_and_listed_apart():
    items = [{"box_2d": [100, 100, 200, 200], "label": "ok"}, {"box_2d": [1, 2, 3], "label": "short"},
             {"box_2d": "here", "label": "text"}]
    with pytest.warns(BoxParseWarning) as caught:
        parse_boxes(model_answer(items), (1000, 1000))
    (message,) = [str(w.message) for w in caught]
    assert message == ("Skipped 2 of 3 boxes: item 2: box_2d is not four numbers ([1, 2, 3]); "
                       "item 3: box_2d is not four numbers ('here')")


def test_a_flat_box_is_skipped_and_the_next_one_kept():
    items = [{"box_2d": [300, 100, 300, 400], "label": "horizontal line"},
             {"box_2d": [100, 300, 400, 300], "label": "vertical line"},
             {"box_2d": [100, 100, 400, 400], "label": "heart"}]
    with pytest.warns(BoxParseWarning, match="Skipped 2 of 3 boxes: item 1: no area inside the image"):
        assert [b.label for b in parse_boxes(model_answer(items), (1000, 1000))] == ["heart"]


def test_non_finite_coordinates_are_skipped():
    text = 'Final Answer: ```json\n[{"box_2d": [NaN, 0, 10, 10], "label": "a"}, ' \
           '{"box_2d": [0, 0, Infinity, 10], "label": "b"}, {"box_2d": [0, 0, 10, 10], "label": "c"}]\n```'
    with pytest.warns(BoxParseWarning, match="Skipped 2 of 3"):
        assert [b.label for b in parse_boxes(text, (1000, 1000))] == ["c"]


def test_a_null_label_reads_as_no_label():
    (found,) = parse_boxes(model_answer([{"box_2d": [1, 1, 500, 500], "label": None}]), (1000, 1000))
    assert found.label == ""
    (numbered,) = parse_boxes(model_answer([{"box_2d": [1, 1, 500, 500], "label": 7}]), (1000, 1000))
    assert numbered.label == "7"


@pytest.mark.parametrize("text, labels", [
    # a bracket that is not JSON, then the boxes
    ('See [figure 1 above. Final Answer: [{"box_2d": [100, 100, 200, 200], "label": "a"}]', ["a"]),
    # a list of plain numbers first
    ('Ranges [1, 2] and then [{"box_2d": [100, 100, 200, 200], "label": "a"}]', ["a"]),
    # the boxes wrapped in one more list: the inner list is found
    ('Final Answer: [[{"box_2d": [100, 100, 200, 200], "label": "a"}]]', ["a"]),
    # a draft list, then the final one: the last wins
    ('Draft [{"box_2d": [1, 1, 2, 2], "label": "draft"}] Final [{"box_2d": [100, 100, 200, 200], "label": "b"}]',
     ["b"]),
    # a footnote or a list of other objects after the boxes does not replace them
    ('Final [{"box_2d": [100, 100, 200, 200], "label": "a"}] (see [1]) [{"note": "x"}]', ["a"]),
])
def test_bare_lists_are_found_among_other_brackets(text, labels):
    assert [b.label for b in parse_boxes(text, (1000, 1000))] == labels


# ---------------------------------------------------------------- what the reader sees drawn


def _outline_width(drawn: np.ndarray, box: Box, colour: tuple[int, int, int]) -> int:
    """How many pixels of the box's colour run inwards from its left edge, halfway down."""
    row = drawn[int((box.y0 + box.y1) / 2), int(box.x0):]
    return int(np.argmin(np.all(row == colour, axis=-1)))


def _label_strip(drawn: np.ndarray, colour: tuple[int, int, int], rows: slice) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the pixels of a label strip's colour within the given rows, or None."""
    found_rows, found_cols = np.nonzero(np.all(drawn[rows] == colour, axis=-1))
    if not len(found_rows):
        return None
    offset = rows.start or 0
    return (int(found_rows.min()) + offset, int(found_rows.max()) + offset, int(found_cols.min()),
            int(found_cols.max()))


def _ink(drawn: np.ndarray, colour: tuple[int, int, int], strip: tuple[int, int, int, int]) -> tuple[int, ...]:
    """(top, bottom, left, right) of the text pixels inside a label strip: those not of its colour."""
    top, bottom, left, right = strip
    rows, cols = np.nonzero(np.any(drawn[top:bottom + 1, left:right + 1] != colour, axis=-1))
    return int(rows.min()) + top, int(rows.max()) + top, int(cols.min()) + left, int(cols.max()) + left


@pytest.mark.parametrize("size, width", [((200, 100), 2), ((1050, 1400), 4), ((2000, 2000), 7)])
def test_outlines_grow_with_the_film(size, width):
    box = Box("", 20, 20, size[0] - 20, size[1] - 20)
    drawn = np.asarray(boxes.draw_boxes(Image.new("L", size), [box]))
    assert _outline_width(drawn, box, boxes.COLOURS[0]) == width


@pytest.mark.parametrize("size", [(200, 150), (2000, 2000)])
def test_a_label_sits_on_a_strip_just_above_its_box_in_black(size):
    colour = boxes.COLOURS[0]
    box = Box("Right lung", size[0] * 0.25, size[1] * 0.5, size[0] * 0.75, size[1] * 0.9)
    drawn = np.asarray(boxes.draw_boxes(Image.new("L", size), [box]))
    line = _outline_width(drawn, box, colour)
    strip = _label_strip(drawn, colour, slice(0, int(box.y0)))
    assert strip is not None
    top, bottom, left, right = strip
    assert bottom == box.y0 - line and left == box.x0  # above the box, a line's width clear of it
    assert bottom - top + 1 >= min(size) / 50  # legible at the film's scale
    ink_top, ink_bottom, ink_left, ink_right = _ink(drawn, colour, strip)
    assert (ink_top - top, bottom - ink_bottom) == (2, 3)  # padded inside the strip
    # 2 px to the left of the ink, plus the first glyph's side bearing, which only a large font has.
    assert ink_left - left == 2 if min(size) < 400 else ink_left - left >= 2
    assert right - ink_right >= 2
    assert ink_bottom - ink_top + 1 >= 0.6 * (bottom - top + 1 - 5)  # the text fills the strip: one font
    strip_pixels = drawn[top:bottom + 1, left:right + 1]
    assert np.all(strip_pixels == (0, 0, 0), axis=-1).any()  # black text


def test_a_label_goes_inside_a_box_at_the_top_edge_and_stays_on_the_film():
    colour = boxes.COLOURS[0]
    size = (400, 300)
    reference = np.asarray(boxes.draw_boxes(Image.new("L", size), [Box("Right lung", 100, 150, 200, 250)]))
    line = _outline_width(reference, Box("Right lung", 100, 150, 200, 250), colour)
    top, bottom, left, right = _label_strip(reference, colour, slice(0, 150))
    height, width = bottom - top + 1, right - left + 1
    # Exactly room above (the strip would start on row 0): above. One row less: just inside the box's top.
    fits = Box("Right lung", 0, height - 1 + line, 100, 200)
    drawn = np.asarray(boxes.draw_boxes(Image.new("L", size), [fits]))
    assert _label_strip(drawn, colour, slice(0, int(fits.y0))) == (0, height - 1, 0, width - 1)
    tight = Box("Right lung", 0, height - 2 + line, 100, 200)
    drawn = np.asarray(boxes.draw_boxes(Image.new("L", size), [tight]))
    unlabelled = np.asarray(boxes.draw_boxes(Image.new("L", size), [Box("", 0, tight.y0, 100, 200)]))
    rows = np.nonzero(np.any(drawn != unlabelled, axis=-1))[0]  # what the label changed
    assert (rows.min(), rows.max()) == (tight.y0 + line, tight.y0 + line + height - 1)
    # At the right edge the strip is pulled back so the whole label stays on the film.
    edge = Box("Right lung", size[0] - 20, 150, size[0] - 1, 250)
    drawn = np.asarray(boxes.draw_boxes(Image.new("L", size), [edge]))
    strip = _label_strip(drawn, colour, slice(0, 150))
    assert strip is not None and strip[3] == size[0] - 1 and strip[3] - strip[2] + 1 == width
    assert _ink(drawn, colour, strip)[2] - strip[2] == 2


def test_only_labelled_boxes_get_a_strip():
    image = Image.new("L", (300, 300))
    unlabelled, labelled = Box("", 20, 100, 120, 200), Box("heart", 150, 100, 250, 200)
    drawn = np.asarray(boxes.draw_boxes(image, [unlabelled, labelled]))
    assert _label_strip(drawn, boxes.COLOURS[0], slice(0, 100)) is None
    assert _label_strip(drawn, boxes.COLOURS[1], slice(0, 100)) is not None


def test_show_boxes_shows_the_drawn_film_at_screen_size(monkeypatch, capsys):
    shown: list[Image.Image] = []
    monkeypatch.setattr(boxes, "in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    film = Image.new("L", (2000, 1600))
    boxes.show_boxes(film, [Box("heart", 800, 800, 1200, 1200)])
    (picture,) = shown
    assert picture.size == (900, 720)
    assert np.all(np.asarray(picture) == boxes.COLOURS[0], axis=-1).any()
    assert capsys.readouterr().out == ""
    boxes.show_boxes(film, [])
    assert capsys.readouterr().out == "No boxes to draw: the film is shown as it is.\n"
    assert len(shown) == 2 and shown[1].size == (900, 720)
