"""Assembling icons into the atlas picture: each icon at its cell, y pointing up."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from deepscope.data.images import to_uint8


def assemble(icons: torch.Tensor, cells: np.ndarray, size: int, *, opacity: np.ndarray | None = None,
             background: float = 1.0) -> Image.Image:
    """A (size·s)² RGB canvas with icon i at grid position cells[i] = (x, y); `opacity` in [0, 1]
    blends each icon into the background (class atlases: attribution as opacity)."""
    s = icons.shape[-1]
    canvas = np.full((size * s, size * s, 3), background, dtype=np.float32)
    pictures = icons.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    for i, (x, y) in enumerate(np.asarray(cells).tolist()):
        alpha = 1.0 if opacity is None else float(np.clip(opacity[i], 0, 1))
        row = size - 1 - y
        tile = canvas[row * s:(row + 1) * s, x * s:(x + 1) * s]
        tile[:] = alpha * pictures[i] + (1 - alpha) * tile
    return Image.fromarray(to_uint8(torch.from_numpy(canvas)).numpy())


def add_column_labels(picture: Image.Image, labels: list[str | None], height: int = 14) -> Image.Image:
    """The picture with one caption per grid column underneath (e.g. a column's dominant class)."""
    width = picture.width / max(len(labels), 1)
    out = Image.new("RGB", (picture.width, picture.height + height), "white")
    out.paste(picture, (0, 0))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default()
    for i, label in enumerate(labels):
        text = label or ""
        while text and draw.textlength(text, font=font) > width - 2:
            text = text[:-1]
        draw.text((i * width + 1, picture.height + 1), text, fill="black", font=font)
    return out
