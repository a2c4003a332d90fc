"""Stream an image folder through a model in fixed batches, skipping (and counting) unreadable files.

Batch `b` always holds files `[b * batch_size, (b + 1) * batch_size)` minus the unreadable ones, so a
run that resumes at a batch boundary sees exactly the batches an uninterrupted run sees. The next
batches are decoded in background threads (`deepscope.data.sources.prefetch`) while the model works
on the current one.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from deepscope.data.sources import ImageSource, files_source, prefetch, take
from deepscope.errors import DeepscopeError


@dataclass
class Batch:
    """Images (n, 3, size, size) in [0, 1]; `indices` are their positions in the file list."""

    start: int  # index of the batch's first file (read or not)
    stop: int  # one past its last file
    indices: list[int]
    images: torch.Tensor
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (file index, reason)


def iter_batches(files: Sequence[Path] | ImageSource, size: int, batch_size: int, *, start: int = 0,
                 workers: int | None = None) -> Iterator[Batch]:
    """Batches of resized images from `files[start:]` (`start` must be a batch boundary).

    `files` is a list of image files or an `ImageSource` (e.g. a torch dataset via `as_source`);
    images are decoded by `prefetch`, two batches ahead of the consumer.
    """
    if batch_size < 1:
        raise DeepscopeError(f"batch size must be at least 1, got {batch_size}")
    if start % batch_size:
        raise ValueError(f"start {start} is not a multiple of the batch size {batch_size}")
    source = files if isinstance(files, ImageSource) else files_source(files, size)
    total = len(source.ids)
    stream = prefetch(source, range(start, total), workers or None, ahead=2 * batch_size)
    for first in range(start, total, batch_size):
        stop = min(first + batch_size, total)
        readable, skipped = take(stream, stop - first)
        stacked = torch.stack([image for _, image in readable]) if readable else torch.zeros(0, 3, size, size)
        yield Batch(first, stop, [index for index, _ in readable], stacked, skipped)


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


def file_listing(files: Sequence[Path], root: Path | None = None) -> list[tuple[str, int]]:
    """(path relative to `root`, by default the files' common folder, size in bytes) of each file:
    part of a job's settings key, so that a changed folder does not resume an old checkpoint while the
    same folder moved or reached by another path does."""
    paths = [Path(f) for f in files]
    if root is None:
        root = Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else Path()
    return [(p.relative_to(root).as_posix(), p.stat().st_size if p.exists() else -1) for p in paths]
