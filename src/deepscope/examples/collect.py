"""One streaming, resumable pass over an image folder that keeps each channel's top-k images.

The running top-k and the number of files done are checkpointed (`Job.save_tensors`, atomically,
every `checkpoint_seconds` and at the end) to `state_path`; a rerun with the same settings continues
from the checkpoint and ends with exactly the result of an uninterrupted run (batches are fixed
file ranges, so the arithmetic is the same); a finished run is read back without any work.
The layer is read through its layout: maps and patch tokens as their grid, a vector as 1x1 maps.
With `groups` (one id per file, e.g. the photo a view was cut from) a channel keeps at most
`per_group` images of one group; without groups every image competes alone.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from deepscope.data.stream import file_listing, iter_batches
from deepscope.errors import DeepscopeError
from deepscope.examples.topk import TopK
from deepscope.jobs import Job, settings_key
from deepscope.models.capture import capture
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel, require_finite

STATE_VERSION = 1
PER_GROUP = 2  # images of one group a channel keeps, where files carry groups


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
) -> Collection:
    """Top-`k` images of every channel of `layer` (or of `channels`) over `files`, in one pass.

    `groups`: a group id per file; a channel then keeps at most `per_group` images of a group (None: no
    cap). `on_batch(files_done)` is called after each batch is merged (before any checkpoint of it).
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
    bar = tqdm(total=len(files), initial=collection.done, desc=f"top-{k} {layer}", unit="img",
               disable=not progress, dynamic_ncols=True)
    last_save = time.monotonic()
    with torch.no_grad(), capture(model, [layer], truncate=True, detach=True, canonical=True) as cap:
        for batch in iter_batches(files, size, batch_size, start=collection.done, workers=workers):
            topk = collection.topk
            if batch.indices:
                acts = require_finite(cap(batch.images.to(model.device))[layer], f"the {layer} activations")
                topk = topk.update(acts, torch.tensor(batch.indices))
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
