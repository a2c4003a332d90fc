"""A contact sheet per candidate: its feature visualization, its top real examples for each of its
classes (crops of the store's source images around the positions) and the patch test's flip rates."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from deepscope.atlas.collection.store import ActivationStore
from deepscope.data.images import load_image_resized
from deepscope.examples.crops import field_crop
from deepscope.examples.sheets import hstack
from deepscope.probes.multiuse.candidates import Unit
from deepscope.viz.sheet import contact_sheet

TILE = 96


class Crops:
    """Crops `side` px square around store positions, from the store's source images (cached)."""

    def __init__(self, store: ActivationStore, folder: Path, side: int | None = None):
        self.store, self.folder = store, Path(folder)
        self.size = int(store.meta["input_size"])
        h, w = store.meta["map_size"]
        self.stride = (self.size / h, self.size / w)
        self.side = side or max(64, round(3 * max(self.stride)))  # three map cells
        self._images: dict[int, torch.Tensor] = {}

    def image(self, index: int) -> torch.Tensor:
        if index not in self._images:
            self._images[index] = load_image_resized(self.folder / self.store.ids[index], self.size)
        return self._images[index]

    def crop(self, row: int) -> torch.Tensor:
        y, x = (int(v) for v in self.store.pos[row])
        cy, cx = (y + 0.5) * self.stride[0], (x + 0.5) * self.stride[1]
        half = self.side / 2
        box = [max(0, round(c - half)) for c in (cx, cy)] + [min(self.size, round(c + half)) for c in (cx, cy)]
        return field_crop(self.image(int(self.store.image[row])), (box[0], box[1], box[2], box[3]), self.side)


def class_examples(store: ActivationStore, unit: Unit, cls: int, count: int) -> list[int]:
    """The unit's rows that push `cls` up most (positive attribution), one per image."""
    rows = unit.rows[np.argsort(-store.attr[unit.rows, cls].astype(np.float32), kind="stable")]
    picked, seen = [], set()
    for row in rows:
        image = int(store.image[row])
        if store.attr[row, cls] <= 0 or image in seen:
            continue
        picked.append(int(row))
        seen.add(image)
        if len(picked) == count:
            break
    return picked


def _text_panel(lines: list[str], width: int) -> Image.Image:
    font = ImageFont.load_default()
    width = max([width] + [round(font.getlength(line)) + 8 for line in lines])
    panel = Image.new("RGB", (width, 14 * len(lines) + 6), "white")
    draw = ImageDraw.Draw(panel)
    for i, line in enumerate(lines):
        draw.text((4, 3 + 14 * i), line, fill="black", font=font)
    return panel


def _stack(parts: list[Image.Image]) -> Image.Image:
    """Images one under the other, left-aligned, on white."""
    sheet = Image.new("RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white")
    y = 0
    for part in parts:
        sheet.paste(part, (0, y))
        y += part.height
    return sheet


def candidate_sheet(title: str, fv: torch.Tensor, rows: list[tuple[str, list[torch.Tensor], list[str]]],
                    tile: int = TILE) -> Image.Image:
    """[visualization | per class: a heading line over its example crops], under `title`."""
    blank = torch.ones(3, tile, tile)
    panels = []
    for heading, crops, captions in rows:
        sheet = contact_sheet(crops or [blank], captions or ["no example"], columns=max(len(crops), 1), tile=tile)
        panels.append(_stack([_text_panel([heading], sheet.width), sheet]))
    body = hstack([contact_sheet([fv], ["visualization"], tile=2 * tile), _stack(panels)])
    return _stack([_text_panel([title], body.width), body])
