"""`diff.png`: A's icons beside B's icons on A's layout, every cell framed in the colour of its change
(green: B is A's linear image there, red: A's activations predict nothing of B). Without icons, one
panel of cells filled with that colour."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from deepscope.atlas.canvas import assemble

GAP = 12  # px between the panels
FRAME = 0.08  # the frame's width as a share of a tile
PLAIN_TILE = 24  # px a cell when there are no icons


def change_colours(change: np.ndarray) -> list[tuple[int, int, int]]:
    """RGB per cell on matplotlib's RdYlGn reversed: 0 green, 0.5 yellow, 1 red."""
    from matplotlib import colormaps

    ramp = colormaps["RdYlGn_r"]
    return [tuple(int(255 * c) for c in ramp(float(np.clip(v, 0, 1)))[:3]) for v in change]


def _framed(panel: Image.Image, cells: np.ndarray, size: int, colours, fill: bool) -> Image.Image:
    tile = panel.width // size
    width = 0 if fill else max(2, round(FRAME * tile))
    draw = ImageDraw.Draw(panel)
    for (x, y), colour in zip(np.asarray(cells).tolist(), colours):
        left, top = x * tile, (size - 1 - y) * tile
        box = (left, top, left + tile - 1, top + tile - 1)
        draw.rectangle(box, fill=colour if fill else None, outline=colour, width=width or 1)
    return panel


def _legend(width: int, font) -> Image.Image:
    bar = Image.new("RGB", (width, 26), "white")
    draw = ImageDraw.Draw(bar)
    span = min(200, width - 120)
    for i, colour in enumerate(change_colours(np.linspace(0, 1, span))):
        draw.line([(60 + i, 4), (60 + i, 14)], fill=colour)
    draw.text((2, 3), "change 0", fill="black", font=font)
    draw.text((64 + span, 3), "1", fill="black", font=font)
    return bar


def diff_picture(cells: np.ndarray, size: int, change: np.ndarray, titles: tuple[str, str],
                 icons_a: torch.Tensor | None = None, icons_b: torch.Tensor | None = None,
                 header: str = "") -> Image.Image:
    """The side-by-side picture (`titles`: A's and B's captions; `header`: one line above)."""
    colours = change_colours(change)
    if icons_a is not None and icons_b is not None:
        panels = [_framed(assemble(icons, cells, size), cells, size, colours, False) for icons in (icons_a, icons_b)]
    else:
        blank = Image.new("RGB", (size * PLAIN_TILE, size * PLAIN_TILE), "white")
        panels, titles = [_framed(blank, cells, size, colours, True)], (f"{titles[0]} -> {titles[1]}", "")
    font = ImageFont.load_default()
    side = panels[0].width
    width = len(panels) * side + (len(panels) - 1) * GAP
    text = max(ImageDraw.Draw(panels[0]).textlength(t, font=font) for t in (header, *titles))
    legend = _legend(int(max(width, 240, text + 4)), font)
    out = Image.new("RGB", (legend.width, 32 + side + legend.height), "white")
    draw = ImageDraw.Draw(out)
    draw.text((2, 2), header, fill="black", font=font)
    for i, panel in enumerate(panels):
        left = i * (side + GAP)
        draw.text((left + 2, 17), titles[i], fill="black", font=font)
        out.paste(panel, (left, 32))
    out.paste(legend, (0, 32 + side))
    return out
