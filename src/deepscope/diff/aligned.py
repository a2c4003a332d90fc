"""Activations of two models at the same image positions: the aligned collection behind `deepscope diff`.

Positions are drawn on model A's map as the atlas collection draws them (`positions_for`: seeded by
(seed, image index), `margin` cells from the edge) and carried over in image coordinates: the centre
of A's cell, as a fraction of the image side, falls in one cell of B's map. So layers with different
grids line up (Lite0's 7x7 `blocks.5` at 224 px and Lite1's 8x8 at 240 px): each model sees the same
centre crop at its own input size. Activations and attributions come from the atlas sampler
(`atlas.collection.forward.Sampler`: forward-mode attribution to every class in one pass).

Resumable: a `jobs.Job` in the store folder with one unit per range of images, each range written as
one `.npz`; a rerun with the same settings reads them back and collects nothing.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from deepscope.atlas.collection.forward import Sampler
from deepscope.atlas.collection.sampling import positions_for
from deepscope.atlas.collection.store import ActivationStore, ids_digest, shard_ranges
from deepscope.data.sources import ImageSource, as_source, prefetch, take
from deepscope.diff.sides import Side
from deepscope.errors import DeepscopeError
from deepscope.jobs import Job, write_bytes

CHUNK = 256  # images per resumable unit
ARRAYS = ("image", "pos_a", "pos_b", "acts_a", "acts_b", "attr_a", "attr_b")


@dataclass
class Aligned:
    """Rows = sampled positions: `image` index into `ids`, `pos_a`/`pos_b` (y, x) cells of each map,
    `acts_a` (N, Ca), `acts_b` (N, Cb), `attr_a`/`attr_b` (N, classes) or None."""

    a: Side
    b: Side
    ids: list[str]
    image: np.ndarray
    pos_a: np.ndarray
    pos_b: np.ndarray
    acts_a: np.ndarray
    acts_b: np.ndarray
    attr_a: np.ndarray | None = None
    attr_b: np.ndarray | None = None
    failed: list[dict] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.acts_a)

    def image_xy(self) -> np.ndarray:
        """(N, 2) positions in image coordinates: (y, x) of A's cell centres as fractions of the side."""
        return (self.pos_a + 0.5) / np.asarray(self.a.spec.grid, dtype=np.float64)

    def store_a(self) -> ActivationStore:
        """A's side as an atlas `ActivationStore` (for the layout, grid and icons of `deepscope.atlas`)."""
        meta = {"model": self.a.model.key, "layer": self.a.layer, "source": self.source,
                "class_names": self.a.model.classes if self.attr_a is not None else None}
        return ActivationStore(None, meta, self.ids, self.acts_a, self.image, self.pos_a, self.attr_a, self.failed)


def carry_positions(pos: np.ndarray, grid_a, grid_b) -> np.ndarray:
    """(..., 2) cells of map A -> the cells of map B holding the same image points (A's cell centres)."""
    grid_a, grid_b = np.asarray(grid_a, dtype=np.float64), np.asarray(grid_b)
    cells = np.floor((np.asarray(pos) + 0.5) / grid_a * grid_b)
    return np.clip(cells, 0, grid_b - 1).astype(np.int16)


def paired_source(images, size_a: int, size_b: int) -> ImageSource:
    """Each image at both models' input sizes: `load(i)` -> (image for A, image for B)."""
    a = as_source(images, size_a)
    if size_a == size_b:
        return ImageSource(a.ids, lambda i: (a.load(i),) * 2, a.description)
    b = as_source(images, size_b)
    return ImageSource(a.ids, lambda i: (a.load(i), b.load(i)), a.description)


def collect_aligned(a: Side, b: Side, images, store: str | os.PathLike, *, positions: int, margin: int = 1,
                    seed: int = 0, attribution: bool = True, batch_size: int = 16, workers: int | None = None,
                    limit: int | None = None, progress: bool = True) -> Aligned:
    """Activations (and attributions, when both models are classifiers) of `a` and `b` at the same
    `positions` image points per image of `images` (a folder or a dataset); resumable in `store`."""
    if positions < 1 or batch_size < 1:
        raise DeepscopeError("positions and batch size must be at least 1")
    source = paired_source(images, a.model.input_size, b.model.input_size)
    ids = source.ids[:limit] if limit else source.ids
    if not ids:
        raise DeepscopeError(f"no images found in {source.description!r}; give a folder of images (--images)")
    attribution = bool(attribution and a.model.classes and b.model.classes)
    settings = {"a": a.settings(), "b": b.settings(), "positions": positions, "margin": margin, "seed": seed,
                "attribution": attribution, "batch_size": batch_size, "chunk": CHUNK, "ids": ids_digest(ids)}
    Path(store).mkdir(parents=True, exist_ok=True)
    job = Job(store, "diff-collect", settings)
    ranges = shard_ranges(len(ids), CHUNK)
    todo = [r for r in ranges if not job.done(_unit(r))]
    if todo:
        _run(a, b, source, job, todo, settings, workers, progress)
    return _load(a, b, job, ranges, ids, source.description)


def _unit(rng: tuple[int, int]) -> str:
    return f"{rng[0]:09d}-{rng[1]:09d}"


def _run(a: Side, b: Side, source: ImageSource, job: Job, todo, settings: dict, workers, progress: bool) -> None:
    samplers = Sampler(a.model, a.layer, settings["attribution"]), Sampler(b.model, b.layer, settings["attribution"])
    indices = [i for first, end in todo for i in range(first, end)]
    bar = tqdm(total=len(indices), desc=f"collect {a.layer} / {b.layer}", unit="img", disable=not progress)
    stream = prefetch(source, indices, workers, ahead=max(2 * settings["batch_size"], 8))
    size = settings["batch_size"]
    for first, end in todo:
        parts: dict[str, list] = {k: [] for k in ARRAYS}
        failed = []
        for start in range(first, end, size):  # a batch: the readable ones of `size` images
            count = min(size, end - start)
            batch, skipped = take(stream, count)
            failed += [{"index": i, "id": source.ids[i], "reason": error} for i, error in skipped]
            if batch:
                _sample(a, b, samplers, batch, settings, parts)
            bar.update(count)
        arrays = {k: np.concatenate(v) for k, v in parts.items() if v}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes(Path(job.folder) / f"aligned-{_unit((first, end))}.npz", buffer.getvalue())
        job.finish(_unit((first, end)), {"rows": len(arrays.get("image", [])), "failed": failed})
    bar.close()


def _sample(a: Side, b: Side, samplers, batch: list, settings: dict, parts: dict) -> None:
    """One batch of (index, (image A, image B)) through both models at the same image points."""
    k = settings["positions"]
    index = np.array([i for i, _ in batch], dtype=np.int64)
    pos_a = np.stack([positions_for(int(i), k, *a.spec.grid, settings["margin"], settings["seed"]) for i in index])
    pos_b = carry_positions(pos_a, a.spec.grid, b.spec.grid)
    for side, sampler, pos, which in ((a, samplers[0], pos_a, 0), (b, samplers[1], pos_b, 1)):
        images = torch.stack([pair[which] for _, pair in batch])
        acts, attr = sampler(images, torch.from_numpy(pos.astype(np.int64)))
        parts[f"acts_{'ab'[which]}"].append(acts.numpy().astype(np.float32))
        if attr is not None:
            parts[f"attr_{'ab'[which]}"].append(attr.numpy().astype(np.float16))
    parts["image"].append(np.repeat(index, k))
    parts["pos_a"].append(pos_a.reshape(-1, 2).astype(np.int16))
    parts["pos_b"].append(pos_b.reshape(-1, 2))


def _load(a: Side, b: Side, job: Job, ranges, ids: list[str], description: str) -> Aligned:
    parts: dict[str, list] = {k: [] for k in ARRAYS}
    failed: list[dict] = []
    for rng in ranges:
        failed.extend(job.record(_unit(rng))["failed"])
        with np.load(Path(job.folder) / f"aligned-{_unit(rng)}.npz") as chunk:
            for key in chunk.files:
                parts[key].append(chunk[key])
    arrays = {k: np.concatenate(v) if v else None for k, v in parts.items()}
    if arrays["image"] is None or not len(arrays["image"]):
        reasons = "; ".join(f["reason"] for f in failed[:3])
        raise DeepscopeError(f"none of the {len(ids)} images could be read ({reasons})")
    return Aligned(a, b, ids, failed=failed, source=description, **arrays)
