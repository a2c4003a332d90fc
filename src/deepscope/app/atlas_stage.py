"""A layer's activation atlas (deepscope.atlas) prepared for the browser: tiles, cells, source crops.

Sized to the data unless the settings say otherwise: positions per image from the number of images,
the grid from the number of activations (`deepscope.atlas.request`). The UMAP layout is spread
(`SITE_UMAP`, then `spread_layout`) so that the grid fills: a site's few photos form tight islands.
"""
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
from deepscope.atlas.layout import spread_layout
from deepscope.atlas.request import atlas_grid, atlas_positions, sampled_cells
from deepscope.data.images import image_files
from deepscope.errors import DeepscopeError
from deepscope.examples import receptive_field
from deepscope.models.layout import LayerSpec, layer_spec
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import write_atomic

SOURCES = 4  # source crops per cell
CROP_PX = 64
MARGIN = 1  # positions this close to the map's edge are not sampled (collection's default)
SITE_UMAP = {"min_dist": 0.99, "spread": 2.0}  # islands pushed apart, before the ranks even them out


def site_atlas_size(cfg: SiteConfig, spec: LayerSpec, images: int) -> tuple[int, int]:
    """(positions per image, grid size) of a layer's atlas over `images` images: the settings' own, or
    sized to the data."""
    positions = cfg.atlas_positions or atlas_positions(images, sampled_cells(*spec.grid, MARGIN))
    return positions, cfg.atlas_grid or atlas_grid(images * positions, cfg.atlas_threshold)


def layer_atlas(model: VisionModel, layer: str, images: Path, site: Path, cfg: SiteConfig,
                progress: bool = True, count: int | None = None) -> dict:
    """Collect (resumably), lay out, bin, render icons; write tiles, crops and `data/atlas.json`.
    `count`: how many images of the folder are used (None: every one)."""
    count = count or len(image_files(images))
    positions, grid = site_atlas_size(cfg, layer_spec(model, layer), count)
    store = collect(model, layer, images, work_dir(site, "activations", layer_slug(layer)),
                    positions=positions, margin=MARGIN, attribution=bool(model.classes), seed=cfg.seed,
                    batch_size=cfg.batch_size, limit=cfg.limit, progress=progress)
    params = SITE_UMAP if cfg.atlas_layout == "umap" else {}
    coords = spread_layout(layout(store.acts, cfg.atlas_layout, seed=cfg.seed, **params))
    if cfg.atlas_grid is None:  # sized to the activations collected (unreadable images give fewer)
        grid = atlas_grid(len(store), cfg.atlas_threshold)
    icons = IconSettings(size=cfg.icon_size, steps=cfg.icon_steps, attempts=1, seed=cfg.seed)
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
               "positions": positions, "activations": len(store), "activations_in_cells": int(atlas.grid.counts.sum()),
               "images": len(set(store.image.tolist())), "layout": cfg.atlas_layout, "icon_size": cfg.icon_size,
               "icon_steps": cfg.icon_steps, "tiles": tiles, "cells": cells,
               "timings_s": {k: round(v, 2) for k, v in atlas.timings.items()}}
    path = layer_data(site, layer, "atlas")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary))
    return summary
