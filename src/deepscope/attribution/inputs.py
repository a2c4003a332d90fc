"""Images for attribution: one file or a folder, resized to the model's input, bad files reported."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from deepscope.data.images import ImageError, image_files, load_image_resized
from deepscope.errors import DeepscopeError


def image_paths(path: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """`path` itself if it is a file, else the image files under the folder (sorted, first `limit`)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise DeepscopeError(f"{str(p)!r} does not exist: give an image file or a folder of images")
    files = image_files(p)
    return files[:limit] if limit else files


def _spread(files: list[Path], count: int | None) -> list[Path]:
    """All files, reordered so that the first `count` are evenly spaced over the sorted list."""
    if not count or count >= len(files):
        return files
    step = len(files) / count
    picked = [files[int(i * step)] for i in range(count)]
    chosen = set(picked)
    return picked + [f for f in files if f not in chosen]


def load_images(path: str | os.PathLike, size: int, limit: int | None = None, *, spread: bool = False,
                warn=lambda msg: print(msg, file=sys.stderr)) -> tuple[torch.Tensor, list[Path], list[str]]:
    """(images (N, 3, size, size), their files, one message per skipped file).

    A single unreadable file is an error; in a folder, unreadable files are skipped with a warning
    and more files are read so that `limit` readable ones are found when possible. `spread` takes
    `limit` files evenly spaced over the sorted folder instead of the first ones (e.g. one image
    per ~60 classes of an ImageNet sample folder rather than 16 fish).
    """
    p = Path(path)
    if p.is_file():
        return load_image_resized(p, size)[None], [p], []
    images, files, skipped = [], [], []
    files_in_order = _spread(image_paths(p), limit) if spread else image_paths(p)
    for file in files_in_order:
        if limit and len(images) >= limit:
            break
        try:
            images.append(load_image_resized(file, size))
            files.append(file)
        except ImageError as err:
            skipped.append(str(err))
            warn(f"skipped {err}")
    if not images:
        raise DeepscopeError(f"none of the images in {str(p)!r} could be read ({len(skipped)} unreadable)")
    return torch.stack(images), files, skipped


def image_batches(path: str | os.PathLike, size: int, batch: int, limit: int | None = None,
                  skipped: list[str] | None = None, warn=lambda msg: print(msg, file=sys.stderr)):
    """Yield (images (n, 3, size, size), files) of at most `batch` images, reading lazily.

    Same rules as `load_images`; skipped files are appended to `skipped`. An error when no image
    of a folder can be read.
    """
    p = Path(path)
    if p.is_file():
        yield load_image_resized(p, size)[None], [p]
        return
    skipped = [] if skipped is None else skipped
    images, files, count = [], [], 0
    for file in image_paths(p):
        if limit and count >= limit:
            break
        try:
            images.append(load_image_resized(file, size))
        except ImageError as err:
            skipped.append(str(err))
            warn(f"skipped {err}")
            continue
        files.append(file)
        count += 1
        if len(images) == batch:
            yield torch.stack(images), files
            images, files = [], []
    if images:
        yield torch.stack(images), files
    if count == 0:
        raise DeepscopeError(f"none of the images in {str(p)!r} could be read ({len(skipped)} unreadable)")
