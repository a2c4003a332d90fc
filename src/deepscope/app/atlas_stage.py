"""A layer's activation atlas (deepscope.atlas) prepared for the browser: tiles, cells, source crops."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from deepscope.app.config import SiteConfig
from deepscope.app.crops import Cropper
from deepscope.app.paths import layer_data, layer_dir, layer_slug, work_dir
from deepscope.app.tiles import pyramid
from deepscope.atlas import IconSettings, build_atlas, collect, layout
from deepscope.atlas.grid import suggest_grid
from deepscope.errors import DeepscopeError
from deepscope.examples import receptive_field
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import write_atomic

SOURCES = 4  # source crops per cell
CROP_PX = 64


def layer_atlas(model: VisionModel, layer: str, images: Path, site: Path, cfg: SiteConfig,
                progress: bool = True) -> dict:
    """Collect (resumably), lay out, bin, render icons; write tiles, crops and `data/atlas.json`."""
    store = collect(model, layer, images, work_dir(site, "activations", layer_slug(layer)),
                    positions=cfg.atlas_positions, attribution=bool(model.classes), seed=cfg.seed,
                    batch_size=cfg.batch_size, limit=cfg.limit, progress=progress)
    coords = layout(store.acts, cfg.atlas_layout, seed=cfg.seed)
    icons = IconSettings(size=cfg.icon_size, steps=cfg.icon_steps, attempts=1, seed=cfg.seed)
    grid = cfg.atlas_grid
    try:
        atlas = build_atlas(model, store, layer, grid=grid, threshold=cfg.atlas_threshold, coords=coords, icons=icons,
                            fidelity=False, seed=cfg.seed, progress=progress)
    except DeepscopeError:  # too fine a grid for this many activations: the finest one it supports
        grid = suggest_grid(coords, cfg.atlas_threshold)
        atlas = build_atlas(model, store, layer, grid=grid, threshold=cfg.atlas_threshold, coords=coords, icons=icons,
                            fidelity=False, seed=cfg.seed, progress=progress)
    root = layer_dir(site, layer) / "atlas"
    shutil.rmtree(root, ignore_errors=True)
    tiles = pyramid(atlas.picture(), root / "tiles")
    cropper = Cropper(receptive_field(model, layer), CROP_PX)
    base = Path(store.meta["source"])
    cells = []
    for n, entry in enumerate(atlas.cell_entries(top_classes=5, sources=SOURCES)):
        crops = []
        for k, src in enumerate(entry.get("sources", [])):
            name = f"atlas/sources/{n}_{k}.jpg"
            if cropper.save(base / src["image"], tuple(src["position"]), root.parent / name):
                crops.append({"crop": name, "image": Path(src["image"]).name})
        cells.append({"x": entry["grid"][0], "y": entry["grid"][1], "count": entry["count"],
                      "top_classes": [{"class": t["class"], "attribution": t["attribution"]}
                                      for t in entry.get("top_classes", [])], "sources": crops})
    summary = {"layer": layer, "grid": grid, "requested_grid": cfg.atlas_grid, "threshold": cfg.atlas_threshold,
               "activations": len(store), "activations_in_cells": int(atlas.grid.counts.sum()),
               "images": len(set(store.image.tolist())), "layout": cfg.atlas_layout, "icon_size": cfg.icon_size,
               "icon_steps": cfg.icon_steps, "tiles": tiles, "cells": cells,
               "timings_s": {k: round(v, 2) for k, v in atlas.timings.items()}}
    path = layer_data(site, layer, "atlas")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary))
    return summary
