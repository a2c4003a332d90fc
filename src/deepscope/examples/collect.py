"""One streaming, resumable pass over an image folder that keeps each channel's top-k images.

The running top-k and the number of files done are checkpointed (`Job.save_tensors`, atomically,
every `checkpoint_seconds` and at the end) to `state_path`; a rerun with the same settings continues
from the checkpoint and ends with exactly the result of an uninterrupted run (batches are fixed
file ranges, so the arithmetic is the same); a finished run is read back without any work.
On an engine (`--engine ray`) the pass is cut into shard ranges whose top-k states merge
(`TopK.merge`) into the same result; each state is kept as it arrives, so a killed driver resumes.
The layer is read through its layout: maps and patch tokens as their grid, a vector as 1x1 maps.
With `groups` (one id per file, e.g. the photo a view was cut from) a channel keeps at most
`per_group` images of one group; without groups every image competes alone.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from deepscope.data.stream import Batch, file_listing, iter_batches
from deepscope.distributed.shards import batch_shards, drop_shards, map_shards
from deepscope.errors import DeepscopeError
from deepscope.examples.topk import TopK
from deepscope.jobs import Job, settings_key
from deepscope.models.capture import capture
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel, require_finite

STATE_VERSION = 1
PER_GROUP = 2  # images of one group a channel keeps, where files carry groups
SHARDS_FOLDER = ".examples-shards"  # the shard states a sharded pass keeps until they are merged


@dataclass
class Collection:
    """The result of a pass: top-k per channel over `files` (indices into it), plus what was skipped."""

    layer: str
    size: int
    files: list[Path]
    topk: TopK
    done: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    key: str = ""

    @property
    def finished(self) -> bool:
        return self.done >= len(self.files)

    @property
    def read(self) -> int:
        return self.done - len(self.skipped)

    def state(self) -> dict:
        """What a checkpoint keeps (with the job's key, see `Job.save_tensors`)."""
        return {"done": self.done, "topk": self.topk.state_dict(), "skipped": self.skipped}


def pass_settings(model: VisionModel, layer: str, files: Sequence[Path], channels: Sequence[int], k: int,
                  size: int, batch_size: int, extra: dict | None = None) -> dict:
    """Everything that determines the result of a pass (a checkpoint with other settings is not reused)."""
    return {"version": STATE_VERSION, "model": model.key, "layer": model.resolve(layer),
            "files": file_listing(files), "channels": list(channels), "k": k, "size": size, "batch": batch_size,
            "extra": extra or {}}


def group_ids(groups: Sequence | None, files: Sequence[Path], per_group: int | None) -> torch.Tensor | None:
    """One integer per file for `groups` (any hashable labels, numbered in order of appearance); None
    without groups or without a cap."""
    if groups is None or per_group is None:
        return None
    groups = list(groups)
    if len(groups) != len(files):
        raise DeepscopeError(f"{len(groups)} group ids for {len(files)} images: give one group per image")
    if per_group < 1:
        raise DeepscopeError(f"per-group cap must be at least 1, got {per_group}")
    numbers: dict = {}
    return torch.tensor([numbers.setdefault(g, len(numbers)) for g in groups], dtype=torch.long)


def _start(layer: str, size: int, files: list[Path], channels: list[int], k: int, settings: dict,
           state_path: Path | None, cap: tuple[torch.Tensor | None, int | None]) -> tuple[Collection, Job | None]:
    """The collection checkpointed at `state_path` with these settings (else an empty one) and its job;
    `cap` = (group id per file, images per group) or (None, None)."""
    job = Job(state_path.parent, "examples", settings) if state_path is not None else None
    key = job.key if job is not None else settings_key(settings)
    state = job.load_tensors(state_path) if job is not None else None
    if state is None:
        return Collection(layer, size, files, TopK.empty(channels, k, *cap), 0, [], key), job
    return Collection(layer, size, files, TopK.from_state_dict(state["topk"], *cap), int(state["done"]),
                      [tuple(s) for s in state["skipped"]], key), job


def collect_top_examples(
    model: VisionModel,
    layer: str,
    files: Sequence[Path],
    *,
    channels: Sequence[int] | None = None,
    k: int = 9,
    size: int | None = None,
    batch_size: int = 16,
    state_path: str | os.PathLike | None = None,
    checkpoint_seconds: float = 10.0,
    progress: bool = True,
    workers: int | None = None,
    key_extra: dict | None = None,
    on_batch: Callable[[int], None] | None = None,
    groups: Sequence | None = None,
    per_group: int | None = PER_GROUP,
    engine=None,
    shard_size: int | None = None,
) -> Collection:
    """Top-`k` images of every channel of `layer` (or of `channels`) over `files`, in one pass.

    `groups`: a group id per file; a channel then keeps at most `per_group` images of a group (None: no
    cap). `on_batch(files_done)` is called after each batch is merged (before any checkpoint of it).
    `engine` (a started `RayEngine`): the pass runs as tasks of `shard_size` files (a multiple of the
    batch size; default `distributed.shards.SHARD_BATCHES` batches) whose top-k states merge into the one-pass result.
    """
    if k < 1:
        raise DeepscopeError(f"--top must be at least 1, got {k}")
    size = size or model.input_size
    files = [Path(f) for f in files]
    spec = layer_spec(model, layer, size)  # maps and patch tokens as (B, C, h, w), vectors as (B, C)
    channels = list(range(spec.channels)) if channels is None else list(channels)
    spec.check_channels(channels)
    ids = group_ids(groups, files, per_group)
    if ids is not None:  # without a cap the settings (and a checkpoint's key) are those of before groups
        key_extra = {**(key_extra or {}), "groups": settings_key(ids.tolist()), "per_group": per_group}
    settings = pass_settings(model, layer, files, channels, k, size, batch_size, key_extra)
    state_path = Path(state_path) if state_path is not None else None
    collection, job = _start(layer, size, files, channels, k, settings, state_path,
                             (ids, per_group if ids is not None else None))
    if collection.finished:
        return collection
    if engine is not None:
        return _sharded_pass(engine, model, collection, batch_size, workers, job, state_path, shard_size, progress)
    bar = tqdm(total=len(files), initial=collection.done, desc=f"top-{k} {layer}", unit="img",
               disable=not progress, dynamic_ncols=True)
    last_save = time.monotonic()
    for batch, topk in _top_batches(model, collection, files, batch_size, collection.done, workers):
        skipped = collection.skipped + [(str(files[i]), reason) for i, reason in batch.skipped]
        collection = Collection(layer, size, files, topk, batch.stop, skipped, collection.key)
        bar.update(batch.stop - batch.start)
        if skipped:
            bar.set_postfix(skipped=len(skipped))
        if on_batch is not None:
            on_batch(collection.done)
        if job is not None and (time.monotonic() - last_save >= checkpoint_seconds or collection.finished):
            job.save_tensors(state_path, collection.state())
            last_save = time.monotonic()
    bar.close()
    return collection


def _top_batches(model: VisionModel, collection: Collection, files: Sequence[Path], batch_size: int, start: int,
                 workers: int | None, offset: int = 0) -> Iterator[tuple[Batch, TopK]]:
    """(batch, running top-k after it) for the batches of `files[start:]`, numbered from `offset`."""
    layer, topk = collection.layer, collection.topk
    with torch.no_grad(), capture(model, [layer], truncate=True, detach=True, canonical=True) as cap:
        for batch in iter_batches(files, collection.size, batch_size, start=start, workers=workers):
            if batch.indices:
                acts = require_finite(cap(batch.images.to(model.device))[layer], f"the {layer} activations")
                topk = topk.update(acts, torch.tensor(batch.indices) + offset)
            yield batch, topk


def top_examples_shard(model: VisionModel, shard: tuple[int, int], *, collection: Collection, batch_size: int,
                       workers: int | None) -> dict:
    """The top-k state of the files `shard` = [first, end) of `collection`'s pass alone (one task)."""
    first, end = shard
    top, files = collection.topk, collection.files
    empty = Collection(collection.layer, collection.size, files,
                       TopK.empty(top.channels, top.k, top.groups, top.per_group), 0)
    topk, skipped = empty.topk, []
    for batch, topk in _top_batches(model, empty, files[first:end], batch_size, 0, workers, first):
        skipped += [(str(files[first + i]), reason) for i, reason in batch.skipped]
    return {"topk": topk.state_dict(), "skipped": skipped}


def _sharded_pass(engine, model, collection: Collection, batch_size: int, workers, job, state_path,
                  shard_size: int | None, progress: bool) -> Collection:
    """The rest of the pass as shard tasks on `engine`, their top-k states merged in file order."""
    engine.check(model)
    files, top = collection.files, collection.topk
    ranges = batch_shards(len(files), batch_size, shard_size, collection.done)
    work = partial(top_examples_shard, collection=collection, batch_size=batch_size, workers=workers)
    folder = state_path.parent / SHARDS_FOLDER if state_path is not None else None
    parts = map_shards(engine, work, ranges, folder, {"pass": collection.key, "from": collection.done,
                                                      "shard_size": shard_size},
                       desc=f"top-{top.k} {collection.layer}", progress=progress)
    skipped = list(collection.skipped)
    for part in parts:
        top = top.merge(TopK.from_state_dict(part["topk"], top.groups, top.per_group))
        skipped += [tuple(s) for s in part["skipped"]]
    collection = Collection(collection.layer, collection.size, files, top, len(files), skipped, collection.key)
    if job is not None:
        job.save_tensors(state_path, collection.state())
    drop_shards(folder)
    return collection
