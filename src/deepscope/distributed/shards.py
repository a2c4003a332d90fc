"""Shard results that come back to the driver (top-k states, CNN codes), kept as they arrive.

`map_shards` runs `work(model, (first, end))` for every image range on an engine and keeps each
result in a folder (a `Job` unit and a tensor file, written atomically), so a driver killed midway
redoes only the ranges it had not received; the results come back in range order, to be merged.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deepscope.errors import DeepscopeError
from deepscope.jobs import Job


def split_ranges(total: int, shard_size: int, start: int = 0) -> list[tuple[int, int]]:
    """[first, end) image ranges of `shard_size` covering `start` .. `total`."""
    if shard_size < 1:
        raise DeepscopeError(f"shard size must be at least 1, got {shard_size}")
    return [(a, min(a + shard_size, total)) for a in range(start, total, shard_size)]


SHARD_BATCHES = 16  # batches per task of a sharded image pass (top-k examples, codes)


def batch_shards(total: int, batch_size: int, shard_size: int | None = None, start: int = 0) -> list[tuple[int, int]]:
    """Shard ranges of a batched pass: `shard_size` images (default `SHARD_BATCHES` batches), a multiple
    of the batch size, so that every shard holds the batches one pass would run."""
    shard_size = shard_size or SHARD_BATCHES * batch_size
    if shard_size % batch_size:
        raise DeepscopeError(f"shard size {shard_size} is not a multiple of the batch size {batch_size}")
    return split_ranges(total, shard_size, start)


def _unit(shard: tuple[int, int]) -> str:
    return f"{shard[0]}-{shard[1]}"


def map_shards(engine, work: Callable, ranges: Sequence[tuple[int, int]], folder: str | os.PathLike | None,
               settings: dict, *, desc: str = "shards", progress: bool = True) -> list[Any]:
    """`work(model, range)` for every range of `ranges` on `engine`, in range order; each result is
    kept in `folder` (None: nowhere) under `settings`, and a rerun with the same settings reuses it."""
    job = None
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        job = Job(folder, "shards", settings, quiet=True)
    results: dict[tuple[int, int], Any] = {}
    for shard in ranges:
        if job is not None and job.done(_unit(shard)):
            value = job.load_tensors(Path(folder) / f"{_unit(shard)}.pt")
            if value is not None:
                results[shard] = value
    todo = [shard for shard in ranges if shard not in results]
    for shard, value in engine.map(work, todo, desc=desc, progress=progress):
        if job is not None:
            job.save_tensors(Path(folder) / f"{_unit(shard)}.pt", value)
            job.finish(_unit(shard))
        results[shard] = value
    return [results[shard] for shard in ranges]


def drop_shards(folder: str | os.PathLike | None) -> None:
    """Remove the kept shard results once their merge is saved."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
