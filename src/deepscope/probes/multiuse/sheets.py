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
    panel = Image.new("RGB", (width, 14 * len(lines) + 8), "white")
    draw = ImageDraw.Draw(panel)
    for i, line in enumerate(lines):
        draw.text((4, 4 + 14 * i), line, fill="black", font=font)
    return panel


def candidate_sheet(title: str, fv: torch.Tensor, rows: list[tuple[str, list[torch.Tensor], list[str]]],
                    lines: list[str], tile: int = TILE) -> Image.Image:
    """[visualization | one row of example crops per class], the title above, `lines` below."""
    blank = torch.ones(3, tile, tile)
    columns = max([len(crops) for _, crops, _ in rows] + [1])
    images, labels = [], []
    for name, crops, captions in rows:
        crops = crops or [blank]
        images += list(crops) + [blank] * (columns - len(crops))
        labels += [f"{name}: {captions[0]}" if captions else f"{name}: none"] + list(captions[1:])
        labels += [""] * (columns - max(len(captions), 1))
    parts = [contact_sheet([fv], ["visualization"], tile=2 * tile)]
    if images:
        parts.append(contact_sheet(images, labels, columns=columns, tile=tile))
    body = hstack(parts)
    head, foot = _text_panel([title], body.width), _text_panel(lines, body.width)
    sheet = Image.new("RGB", (body.width, head.height + body.height + foot.height), "white")
    for y, part in ((0, head), (head.height, body), (head.height + body.height, foot)):
        sheet.paste(part, (0, y))
    return sheet
