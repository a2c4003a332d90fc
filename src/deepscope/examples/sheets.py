"""Pictures of dataset examples: a sheet per channel and an overview with a row per channel."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from deepscope.viz.sheet import contact_sheet

TILE = 96


def _titled(image: Image.Image, title: str) -> Image.Image:
    """`image` under a one-line title."""
    font = ImageFont.load_default()
    out = Image.new("RGB", (image.width, image.height + 16), "white")
    ImageDraw.Draw(out).text((4, 2), title, fill="black", font=font)
    out.paste(image, (0, 16))
    return out


def hstack(panels: Sequence[Image.Image], gap: int = 12) -> Image.Image:
    """Panels side by side, top-aligned, on white."""
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    out = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        out.paste(panel, (x, 0))
        x += panel.width + gap
    return out


def channel_sheet(title: str, crops: Sequence[torch.Tensor], captions: Sequence[str],
                  projections: Sequence[torch.Tensor] = (), fv: torch.Tensor | None = None,
                  tile: int = TILE) -> Image.Image:
    """[feature visualization] [top-k receptive-field crops with scores] [crop | deconvnet projection]."""
    panels = []
    if fv is not None:
        panels.append(_titled(contact_sheet([fv], ["feature vis."], tile=tile), "feature visualization"))
    columns = max(1, round(len(crops) ** 0.5))
    panels.append(_titled(contact_sheet(crops, captions, columns=columns, tile=tile), f"top {len(crops)} examples"))
    if len(projections):
        pairs = [img for crop, proj in zip(crops, projections) for img in (crop, proj)]
        labels = [text for i in range(len(projections)) for text in (f"#{i + 1}", "deconvnet")]
        panels.append(_titled(contact_sheet(pairs, labels, columns=2, tile=tile), "deconvnet projection"))
    return _titled(hstack(panels), title)


def overview_sheet(rows: Sequence[tuple[str, Sequence[torch.Tensor], Sequence[str]]], tile: int = 64) -> Image.Image:
    """One row per channel: (row title, images, captions); rows may differ in length."""
    columns = max(len(images) for _, images, _ in rows)
    blank = torch.ones(3, tile, tile)
    images, labels = [], []
    for title, row, captions in rows:
        padded = list(row) + [blank] * (columns - len(row))
        images += padded
        labels += [f"{title} {captions[0]}"] + list(captions[1:]) + [""] * (columns - len(row))
    return contact_sheet(images, labels, columns=columns, tile=tile)
