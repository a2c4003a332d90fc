"""`deepscope map` as a function: CNN codes of an image folder -> t-SNE/UMAP -> a grid of thumbnails
(`map.png`) with its seam statistic and neighbour label agreement (`map.json`). The codes are kept
in `codes.npz` (the one unit of a `Job`) and reused by a rerun with the same model and images (e.g. to
try another layout). On an engine (`--engine ray`) the codes come in shard ranges, kept as they
arrive (a killed driver resumes) and concatenated into the codes of one pass."""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepscope.data.stream import file_listing, no_readable_images_error
from deepscope.distributed.shards import drop_shards
from deepscope.examples.codes import Codes, classifier, cnn_codes, sharded_codes
from deepscope.examples.grid_layout import (
    assign_to_grid,
    embed_2d,
    grid_shape,
    label_agreement,
    seam_statistic,
)
from deepscope.jobs import Job, settings_key, write_bytes, write_json
from deepscope.models.vision_model import VisionModel, require_finite
from deepscope.viz.output import prepare_output_dir

CODES = "codes.npz"
SHARDS_FOLDER = ".codes-shards"  # the shard codes a sharded pass keeps until codes.npz is written


def _codes_job(out: Path, model: VisionModel, files: Sequence[Path], size: int, thumb: int,
               extra: dict | None) -> Job:
    """The job whose one unit is `codes.npz`: reused while the model, images, size and thumbnails stay."""
    return Job(out, "codes", {"model": model.key, "images": settings_key(file_listing(files)), "size": size,
                              "thumb": thumb, "extra": extra or {}})


def _saved_codes(job: Job) -> Codes | None:
    if not job.done(CODES):
        return None
    try:
        with np.load(job.folder / CODES, allow_pickle=False) as data:
            skipped = [tuple(s) for s in data["skipped"].tolist()]
            return Codes([Path(p) for p in data["files"].tolist()], data["codes"], data["top5"], data["thumbs"],
                         skipped)
    except (OSError, KeyError, ValueError):
        return None


def _save_codes(job: Job, codes: Codes) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, files=np.array([str(f) for f in codes.files]), codes=codes.codes, top5=codes.top5,
             thumbs=codes.thumbs, skipped=np.array(codes.skipped, dtype=str).reshape(-1, 2))
    write_bytes(job.folder / CODES, buffer.getvalue())
    job.finish(CODES, {"images": len(codes.files)})


def grid_image(thumbs: np.ndarray, grid: np.ndarray) -> Image.Image:
    """The thumbnails placed in their cells (white where a cell is empty)."""
    rows, cols = grid.shape
    t = thumbs.shape[1]
    canvas = np.full((rows * t, cols * t, 3), 255, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            if grid[r, c] >= 0:
                canvas[r * t:(r + 1) * t, c * t:(c + 1) * t] = thumbs[grid[r, c]]
    return Image.fromarray(canvas)


def code_map(model: VisionModel, files: Sequence[Path], out: str | os.PathLike, *, method: str = "tsne",
             rows: int | None = None, cols: int | None = None, size: int | None = None, batch_size: int = 16,
             thumb: int = 48, seed: int = 0, progress: bool = True, workers: int | None = None,
             key_extra: dict | None = None, engine=None, shard_size: int | None = None) -> dict:
    """Compute (or reuse) the codes, lay them out, write `map.png` and `map.json`; returns the report.
    `engine` (a started `RayEngine`): the codes are computed in shard tasks of `shard_size` images."""
    out = prepare_output_dir(out)
    size = size or model.input_size
    job = _codes_job(out, model, files, size, thumb, key_extra)
    codes = _saved_codes(job)
    if codes is None:
        options = {"size": size, "batch_size": batch_size, "thumb": thumb, "workers": workers, "progress": progress}
        if engine is None:
            codes = cnn_codes(model, files, **options)
        else:
            codes = sharded_codes(engine, model, files, out / SHARDS_FOLDER, {"codes": job.key},
                                  shard_size=shard_size, **options)
        if not codes.files:
            raise no_readable_images_error(files, codes.skipped)
        require_finite(torch.from_numpy(codes.codes), f"the codes of {model.name}")
        _save_codes(job, codes)
        drop_shards(out / SHARDS_FOLDER)
    shape = grid_shape(len(codes.files), rows, cols)
    xy = embed_2d(codes.codes, method, seed)
    grid = assign_to_grid(xy, *shape)
    grid_image(codes.thumbs, grid).save(out / "map.png")
    seam = seam_statistic(codes.codes, grid)
    classes = model.classes
    report = {
        "model": model.name, "code_layer": f"input of {classifier(model)[0]} (penultimate layer)",
        "code_dim": int(codes.codes.shape[1]), "method": method, "seed": seed, "grid": list(shape), "thumb": thumb,
        "files": {"total": len(files), "read": len(codes.files),
                  "skipped": [{"path": p, "reason": r} for p, r in codes.skipped]},
        "seam": seam, "seam_cosine": seam_statistic(codes.codes, grid, "cosine"),
        "labels": label_agreement(codes.top5, grid),
        "cells": [[None if i < 0 else {"image": str(codes.files[i]), "top1": int(codes.top5[i, 0]),
                                       "top1_name": classes[int(codes.top5[i, 0])] if classes else None}
                   for i in row] for row in grid.tolist()],
        "embedding": [[str(f), round(float(x), 4), round(float(y), 4)] for f, (x, y) in zip(codes.files, xy)],
        "files_written": {"map": "map.png", "codes": CODES},
    }
    write_json(out / "map.json", report)
    return report
