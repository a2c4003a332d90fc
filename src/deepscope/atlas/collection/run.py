"""`collect`: stream images through the model into a resumable, sharded activation store."""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from deepscope.atlas.collection.forward import Sampler
from deepscope.atlas.collection.publish import clean_orphans
from deepscope.atlas.collection.sampling import TOKENS, positions_for
from deepscope.atlas.collection.store import (
    SHARDS,
    ActivationStore,
    ids_digest,
    init_store,
    open_store,
    shard_done,
    shard_ranges,
    write_shard,
)
from deepscope.data.sources import as_source, prefetch, take
from deepscope.errors import DeepscopeError
from deepscope.models.layout import SPATIAL, require_layout
from deepscope.models.vision_model import VisionModel


def _parse_shard(shard) -> tuple[int, int]:
    if shard is None:
        return 0, 1
    part, parts = (int(v) for v in (shard.split("/") if isinstance(shard, str) else shard))
    if not (parts >= 1 and 0 <= part < parts):
        raise DeepscopeError(f"shard {part}/{parts} is not valid: use I/N with 0 <= I < N")
    return part, parts


def collect(model: VisionModel, layer: str, images, store: str | os.PathLike, *, positions: int = 1,
            margin: int = 1, attribution: bool = False, seed: int = 0, batch_size: int = 16,
            tokens: str = "patches", shard_size: int = 256, workers: int | None = None, shard=None, limit: int | None = None,
            progress: bool = True, engine=None, autocast: str | None = None) -> ActivationStore | None:
    """Collect `positions` activations per image of `images` (a folder or a dataset) at `layer`.

    Writes the store folder `store` shard by shard (image ranges of `shard_size`); a killed run
    resumes where it stopped and ends with the same files; a finished store is not redone.
    `attribution=True` also stores h · ∂logit_c/∂h for every class c at each position.
    `tokens="class"` collects a token layer's class token instead, once per image.
    `shard="I/N"` collects only every N-th image range starting at I (split over processes);
    the store is returned once every range is there, else None.
    Unreadable images are skipped and listed in the store (`store.failed`).
    `engine` (a started `RayEngine`): each image range is one task on its workers, which write the
    same shard files (the store is byte-identical to the in-process one).
    `autocast="bf16"` runs the passes in bfloat16 on the model's device (without attribution only).
    """
    if positions < 1 or batch_size < 1 or shard_size < 1:
        raise DeepscopeError("positions, batch size and shard size must be at least 1")
    part, parts = _parse_shard(shard)
    source = as_source(images, model.input_size)
    ids = source.ids[:limit] if limit else source.ids
    model.resolve(layer)
    spec = require_layout(model, layer, *SPATIAL, method="an atlas")
    positions = _check_tokens(spec, tokens, positions)
    if attribution and not model.classes:
        raise DeepscopeError("attribution needs a classifier with class names; collect without attribution")
    Sampler(model, layer, attribution, autocast)  # an impossible precision stops before any work
    root = Path(store)
    meta = {"version": 1, "model": model.name, "layer": layer, "channels": spec.channels,
            "map_size": list(spec.grid), "input_size": model.input_size, "positions": positions,
            "margin": margin, "seed": seed, **({"tokens": tokens} if tokens != "patches" else {}),
            **({"autocast": autocast} if autocast else {}),
            "attribution": bool(attribution), "num_classes": len(model.classes) if attribution else 0,
            "class_names": model.classes if attribution else None, "batch_size": batch_size,
            "shard_size": shard_size, "num_images": len(ids), "ids_digest": ids_digest(ids),
            "source": source.description}
    init_store(root, meta, ids)
    clean_orphans(root / SHARDS)
    todo = [r for i, r in enumerate(shard_ranges(len(ids), shard_size)) if i % parts == part]
    todo = [r for r in todo if not shard_done(root, *r)]
    if todo and engine is not None:
        engine.check(model)
        work = partial(collect_shard, layer=layer, source=source, root=root, meta=meta, workers=workers)
        for _ in engine.map(work, todo, desc=f"collect {layer}", progress=progress):
            pass
        clean_orphans(root / SHARDS)  # what workers killed while writing left behind
    elif todo:
        _run(model, layer, source, root, todo, meta, workers, progress)
    try:
        result = open_store(root)
    except DeepscopeError:
        if parts > 1:
            return None
        raise
    if not len(result):
        reasons = "; ".join(f["reason"] for f in result.failed[:3])
        raise DeepscopeError(f"none of the {len(ids)} images could be read ({reasons})")
    return result


def _check_tokens(spec, tokens: str, positions: int) -> int:
    """The positions per image for `tokens`; a clear error where the layer has no class token."""
    if tokens not in TOKENS:
        raise DeepscopeError(f"tokens {tokens!r} is not one of {', '.join(TOKENS)}")
    if tokens == "patches":
        return positions
    if spec.kind != "tokens" or not spec.prefix:
        raise DeepscopeError(f"the class token needs a token layer with a class token; {spec.layer!r} gives "
                             f"{spec.describe()} (collect patch positions, or pick a transformer block)")
    return 1


def collect_shard(model: VisionModel, shard: tuple[int, int], *, layer, source, root, meta, workers) -> None:
    """Collect the image range `shard` into its shard folder (one task of an engine)."""
    _run(model, layer, source, root, [shard], meta, workers, progress=False)


def _run(model, layer, source, root, todo, meta, workers, progress) -> None:
    sampler = Sampler(model, layer, meta["attribution"], meta.get("autocast"))
    indices = [i for first, end in todo for i in range(first, end)]
    bar = tqdm(total=len(indices), desc=f"collect {layer}", unit="img", disable=not progress)
    stream = prefetch(source, indices, workers, ahead=max(2 * meta["batch_size"], 8))
    unreadable = 0
    for first, end in todo:
        arrays: dict[str, list] = {k: [] for k in ("acts", "image", "pos", "attr")}
        failed = []
        if shard_done(root, first, end):  # another process collecting this store finished it meanwhile
            take(stream, end - first)
            bar.update(end - first)
            continue
        for start in range(first, end, meta["batch_size"]):  # a batch: the readable ones of batch_size images
            count = min(meta["batch_size"], end - start)
            batch, skipped = take(stream, count)
            failed += [{"index": i, "id": source.ids[i], "reason": error} for i, error in skipped]
            if batch:
                _sample_batch(sampler, batch, meta, arrays)
            bar.update(count)
        write_shard(root, first, end, _concat(arrays, meta), failed)
        unreadable += len(failed)
        if unreadable:
            bar.set_postfix(unreadable=unreadable)
    bar.close()


def _sample_batch(sampler: Sampler, batch: list, meta: dict, arrays: dict) -> None:
    """Run one batch of (index, image) and append its rows to `arrays`."""
    h, w = meta["map_size"]
    index = np.array([i for i, _ in batch], dtype=np.int64)
    pos = np.stack([positions_for(int(i), meta["positions"], h, w, meta["margin"], meta["seed"],
                                  meta.get("tokens", "patches")) for i in index])
    acts, attr = sampler(torch.stack([image for _, image in batch]), torch.from_numpy(pos))
    arrays["acts"].append(acts.numpy().astype(np.float32))
    arrays["image"].append(np.repeat(index, meta["positions"]))
    arrays["pos"].append(pos.reshape(-1, 2))
    if attr is not None:
        arrays["attr"].append(attr.numpy().astype(np.float16))


def _concat(arrays: dict, meta: dict) -> dict:
    empty = {"acts": (0, meta["channels"]), "image": (0,), "pos": (0, 2), "attr": (0, meta["num_classes"])}
    dtypes = {"acts": np.float32, "image": np.int64, "pos": np.int16, "attr": np.float16}
    out = {}
    for key, parts in arrays.items():
        if key == "attr" and not meta["attribution"]:
            continue
        out[key] = np.concatenate(parts) if parts else np.zeros(empty[key], dtypes[key])
    return out
