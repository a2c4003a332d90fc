"""Stream an image folder through a model in fixed batches, skipping (and counting) unreadable files.

Batch `b` always holds files `[b * batch_size, (b + 1) * batch_size)` minus the unreadable ones, so a
run that resumes at a batch boundary sees exactly the batches an uninterrupted run sees. The next
batches are decoded in background threads while the model works on the current one.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from deepscope.data.images import ImageError, load_image_resized
from deepscope.errors import DeepscopeError


@dataclass
class Batch:
    """Images (n, 3, size, size) in [0, 1]; `indices` are their positions in the file list."""

    start: int  # index of the batch's first file (read or not)
    stop: int  # one past its last file
    indices: list[int]
    images: torch.Tensor
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (file index, reason)


def _load(files: Sequence[Path], start: int, stop: int, size: int) -> Batch:
    images, indices, skipped = [], [], []
    for i in range(start, stop):
        try:
            images.append(load_image_resized(files[i], size))
            indices.append(i)
        except ImageError as err:
            skipped.append((i, str(err)))
        except MemoryError:
            skipped.append((i, f"{files[i]}: not enough memory to decode this image"))
    stacked = torch.stack(images) if images else torch.zeros(0, 3, size, size)
    return Batch(start, stop, indices, stacked, skipped)


def iter_batches(files: Sequence[Path], size: int, batch_size: int, *, start: int = 0,
                 workers: int | None = None) -> Iterator[Batch]:
    """Batches of resized images from `files[start:]` (`start` must be a batch boundary)."""
    if batch_size < 1:
        raise DeepscopeError(f"batch size must be at least 1, got {batch_size}")
    if start % batch_size:
        raise ValueError(f"start {start} is not a multiple of the batch size {batch_size}")
    bounds = [(s, min(s + batch_size, len(files))) for s in range(start, len(files), batch_size)]
    workers = workers or min(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = [pool.submit(_load, files, s, e, size) for s, e in bounds[:workers + 1]]
        for n in range(len(bounds)):
            batch = pending.pop(0).result()
            ahead = n + len(pending) + 1
            if ahead < len(bounds):
                pending.append(pool.submit(_load, files, *bounds[ahead], size))
            yield batch


def skipped_summary(skipped: Sequence[tuple[str, str]], total: int) -> str:
    """'skipped 3 of 120 images that could not be read (first: ...)', or '' when none were."""
    if not skipped:
        return ""
    return (f"skipped {len(skipped)} of {total} image files that could not be read "
            f"(first: {skipped[0][1]})")


def no_readable_images_error(files: Sequence[Path], skipped: Sequence[tuple[str, str]]) -> DeepscopeError:
    """The error for a file list of which not a single image could be read."""
    folder = os.path.commonpath([str(Path(f).parent) for f in files]) if files else "?"
    reasons = "; ".join(reason for _, reason in skipped[:3])
    return DeepscopeError(f"none of the {len(skipped)} image files in {folder!r} could be read ({reasons})")


def file_listing(files: Sequence[Path]) -> list[tuple[str, int]]:
    """(path, size in bytes) of each file: part of a job's settings key, so that a changed folder
    does not resume an old checkpoint."""
    return [(str(f), f.stat().st_size if f.exists() else -1) for f in map(Path, files)]
