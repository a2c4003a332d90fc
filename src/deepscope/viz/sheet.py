"""Contact sheets: a labelled grid of images in one PNG."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from deepscope.data.images import to_uint8


def _to_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(image).permute(1, 2, 0).cpu().numpy())


def contact_sheet(images: torch.Tensor | Sequence[torch.Tensor], labels: Sequence[str] | None = None,
                  columns: int | None = None, tile: int | None = None, pad: int = 4) -> Image.Image:
    """A grid of (3, H, W) images in [0, 1] with an optional caption under each tile."""
    images = list(images)
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    columns = columns or min(len(images), max(1, math.ceil(math.sqrt(len(images)))))
    rows = math.ceil(len(images) / columns)
    tile = tile or max(int(images[0].shape[-1]), 32)
    caption = 14 if labels else 0
    font = ImageFont.load_default()
    sheet = Image.new("RGB", (columns * (tile + pad) + pad, rows * (tile + pad + caption) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        x, y = pad + c * (tile + pad), pad + r * (tile + pad + caption)
        sheet.paste(_to_pil(image).resize((tile, tile), Image.LANCZOS), (x, y))
        if labels:
            text = str(labels[i])
            while text and draw.textlength(text, font=font) > tile:
                text = text[:-1]
            draw.text((x, y + tile + 1), text, fill="black", font=font)
    return sheet
