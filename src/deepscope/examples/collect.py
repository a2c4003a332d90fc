"""One streaming, resumable pass over an image folder that keeps each channel's top-k images.

The running top-k and the number of files done are checkpointed (atomically, every
`checkpoint_seconds` and at the end) to `state_path`; a rerun with the same settings continues
from the checkpoint and ends with exactly the result of an uninterrupted run (batches are fixed
file ranges, so the arithmetic is the same); a finished run is read back without any work.
"""
from __future__ import annotations

import hashlib
import json
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
from deepscope.models.capture import capture
from deepscope.models.vision_model import VisionModel

STATE_VERSION = 1


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


def settings_key(model: VisionModel, layer: str, files: Sequence[Path], channels: Sequence[int], k: int, size: int,
                 batch_size: int, extra: dict | None = None) -> str:
    """A hash of everything that determines the result (a checkpoint with another key is not reused)."""
    settings = {"version": STATE_VERSION, "model": model.name, "layer": model.resolve(layer),
                "files": file_listing(files),
                "channels": list(channels), "k": k, "size": size, "batch": batch_size, "extra": extra or {}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _save(path: Path, collection: Collection) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"key": collection.key, "done": collection.done, "topk": collection.topk.state_dict(),
                "skipped": collection.skipped}, tmp)
    os.replace(tmp, path)


def load_state(path: Path | None, key: str) -> dict | None:
    """The checkpoint at `path` if it exists and was written with the same settings."""
    if path is None or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged checkpoint only means starting over
        return None
    return state if state.get("key") == key else None


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
) -> Collection:
    """Top-`k` images of every channel of `layer` (or of `channels`) over `files`, in one pass.

    `on_batch(files_done)` is called after each batch is merged (before any checkpoint of it).
    """
    if k < 1:
        raise DeepscopeError(f"--top must be at least 1, got {k}")
    size = size or model.input_size
    files = [Path(f) for f in files]
    with torch.no_grad(), capture(model, [layer], truncate=True, detach=True) as cap:
        probe = cap(torch.full((1, 3, size, size), 0.5, device=model.device))[layer]
    n_channels = probe.shape[1]
    channels = list(range(n_channels)) if channels is None else list(channels)
    bad = [c for c in channels if not 0 <= c < n_channels]
    if bad:
        raise DeepscopeError(f"channel {bad[0]} is out of range: layer {layer!r} has {n_channels} channels "
                             f"(0..{n_channels - 1})")
    key = settings_key(model, layer, files, channels, k, size, batch_size, key_extra)
    state_path = Path(state_path) if state_path is not None else None
    state = load_state(state_path, key)
    if state is not None:
        collection = Collection(layer, size, files, TopK.from_state_dict(state["topk"]), int(state["done"]),
                                [tuple(s) for s in state["skipped"]], key)
    else:
        collection = Collection(layer, size, files, TopK.empty(channels, k), 0, [], key)
    if collection.finished:
        return collection
    bar = tqdm(total=len(files), initial=collection.done, desc=f"top-{k} {layer}", unit="img",
               disable=not progress, dynamic_ncols=True)
    last_save = time.monotonic()
    with torch.no_grad(), capture(model, [layer], truncate=True, detach=True) as cap:
        for batch in iter_batches(files, size, batch_size, start=collection.done, workers=workers):
            topk = collection.topk
            if batch.indices:
                acts = cap(batch.images.to(model.device))[layer]
                topk = topk.update(acts, torch.tensor(batch.indices))
            skipped = collection.skipped + [(str(files[i]), reason) for i, reason in batch.skipped]
            collection = Collection(layer, size, files, topk, batch.stop, skipped, key)
            bar.update(batch.stop - batch.start)
            if skipped:
                bar.set_postfix(skipped=len(skipped))
            if on_batch is not None:
                on_batch(collection.done)
            if state_path is not None and (time.monotonic() - last_save >= checkpoint_seconds
                                           or collection.finished):
                _save(state_path, collection)
                last_save = time.monotonic()
    bar.close()
    return collection
