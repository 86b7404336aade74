"""Pictures for people (never for the model): grids of slices, labelled pairs, a slice browser.

Layer: image input (display side). May import: errors, render, pixels, dicom.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .dicom import CTVolume, as_volume, browser_views, render_slice, sample_slice_indices
from .errors import ImageError
from .render import in_notebook


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at a size (Pillow < 10.1 has only one fixed size)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def draw_label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, typeface: Any,
               colour: tuple[int, int, int] = (255, 255, 255)) -> None:
    """Text on a black box so it stays readable over any image."""
    left, top, right, bottom = draw.textbbox(xy, text, font=typeface)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
    draw.text(xy, text, fill=colour, font=typeface)


def montage(images: Sequence[Image.Image], columns: int | None = None, *, labels: Sequence[str] | None = None,
            tile: int = 160) -> Image.Image:
    """A grid of images (each fitted into a tile x tile square) with its label drawn on each."""
    if not images:
        raise ImageError("montage needs at least one image.")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    labels = list(labels) if labels is not None else [str(n) for n in range(1, len(images) + 1)]
    sheet = Image.new("RGB", (columns * tile, rows * tile), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    typeface = font(max(10, tile // 10))
    for position, image in enumerate(images):
        thumb = image.convert("RGB")
        thumb.thumbnail((tile, tile))
        x, y = (position % columns) * tile, (position // columns) * tile
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        if position < len(labels) and labels[position]:
            draw_label(draw, (x + 3, y + 3), labels[position], typeface)
    return sheet


def side_by_side(first: Image.Image, second: Image.Image, labels: tuple[str, str], height: int = 512) -> Image.Image:
    """Two images at the same height, side by side on white, each labelled above."""
    tiles = [image.resize((max(1, round(image.width * height / image.height)), height)) for image in (first, second)]
    canvas = Image.new("RGB", (tiles[0].width + tiles[1].width + 16, height + 28), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    typeface = font(14)
    offset = 0
    for tile, label in zip(tiles, labels):
        canvas.paste(tile, (offset, 28))
        draw.text((offset + 4, 6), label, fill=(0, 0, 0), font=typeface)
        offset += tile.width + 16
    return canvas


def _browser_widget(values: np.ndarray, modality: str) -> Any:
    import ipywidgets as widgets

    views = browser_views(modality)
    slider = widgets.IntSlider(value=values.shape[0] // 2, min=0, max=values.shape[0] - 1, description="slice",
                               continuous_update=False)
    dropdown = widgets.Dropdown(options=views, value=views[0][1], description="window")
    picture = widgets.Image(format="png")

    def update(_change: Any = None) -> None:
        buffer = io.BytesIO()
        render_slice(values, slider.value, dropdown.value).save(buffer, format="PNG")
        picture.value = buffer.getvalue()

    slider.observe(update, names="value")
    dropdown.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([slider, dropdown]), picture])


def slice_browser(volume: CTVolume | np.ndarray, *, sampled: Sequence[Image.Image] | None = None,
                  labels: Sequence[str] | None = None) -> Any:
    """A slice slider and window menu in a notebook; elsewhere (or without widgets) a montage of the slices.

    The montage shows `sampled` with `labels` when given (the slices the model is sent), else up to 36 slices.
    """
    values = as_volume(volume)
    if in_notebook():
        try:
            return _browser_widget(values, volume.modality if isinstance(volume, CTVolume) else "")
        except ImportError:
            pass  # no ipywidgets: the static montage below still shows the series
    if sampled is not None:
        return montage(list(sampled), labels=labels)
    indices = sample_slice_indices(values.shape[0], 36)  # a readable grid, not all 85
    return montage([render_slice(values, i, "ct") for i in indices], labels=[str(i + 1) for i in indices])
