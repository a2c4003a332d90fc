"""A folder of images held in memory (uint8) at the model's input size, with labels when the file
names carry them (`<wnid>_<class_name>.JPEG`, as in ImageNet sample folders)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from deepscope.data.images import image_files, to_uint8
from deepscope.data.stream import iter_batches
from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import VisionModel

_WNID = re.compile(r"^(n\d{8})_(.+)$")


@dataclass
class ImageSet:
    paths: list[Path]
    images: torch.Tensor  # (N, 3, S, S) uint8
    labels: list[int | None]  # ImageNet class index from the file name, when it can be read

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, start: int, end: int, device=None) -> torch.Tensor:
        """Images start..end as float in [0, 1]."""
        return self.images[start:end].to(device).float().div_(255.0)


def labels_from_names(paths: list[Path], classes: list[str] | None) -> list[int | None]:
    """Class index per file: sorted-wnid order when all 1000 wnids are there, else a unique name match."""
    wnids = [(_WNID.match(p.stem).group(1) if _WNID.match(p.stem) else None) for p in paths]
    if classes and None not in wnids and len(set(wnids)) == len(classes):
        order = {w: i for i, w in enumerate(sorted(set(wnids)))}
        return [order[w] for w in wnids]
    if not classes:
        return [None] * len(paths)
    lowered = [c.lower() for c in classes]
    out: list[int | None] = []
    for p in paths:
        match = _WNID.match(p.stem)
        name = (match.group(2) if match else p.stem).replace("_", " ").lower()
        out.append(lowered.index(name) if lowered.count(name) == 1 else None)
    return out


def load_image_set(folder: str | os.PathLike | list, model: VisionModel, *, limit: int | None = None,
                   progress: bool = True) -> ImageSet:
    """Every readable image under `folder` (or of a list of files), resized and centre-cropped to the
    model's input size."""
    files = [Path(f) for f in folder] if isinstance(folder, (list, tuple)) else image_files(folder)
    files = files[:limit] if limit else files
    kept, arrays, skipped = [], [], []
    with tqdm(total=len(files), desc="load images", unit="img", disable=not progress, leave=False) as bar:
        for batch in iter_batches(files, model.input_size, 32):
            arrays.append(to_uint8(batch.images))
            kept += [files[i] for i in batch.indices]
            skipped += [reason for _, reason in batch.skipped]
            bar.update(batch.stop - batch.start)
    if not kept:
        where = "given" if isinstance(folder, (list, tuple)) else f"in {folder}"
        raise DeepscopeError(f"none of the {len(files)} images {where} could be read: {skipped[0]}")
    return ImageSet(kept, torch.cat(arrays), labels_from_names(kept, model.classes))


@torch.no_grad()
def predict(model: VisionModel, images: ImageSet, batch_size: int = 8, progress: bool = True,
            desc: str = "classify") -> torch.Tensor:
    """Softmax probabilities (N, classes) of the unmodified images."""
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc=desc, disable=not progress, leave=False):
        rows.append(torch.softmax(model(images.batch(start, start + batch_size, model.device)).float(), 1).cpu())
    return torch.cat(rows)
