"""`diff_models`: two models' layers compared at the same image positions, with `ModelDiff` (diff.png,
diff.json) as its result: aligned collection -> ridge map A -> B -> one atlas layout of A's
activations -> per cell A's icon, B's icon, change score and attribution shift."""
from __future__ import annotations

import io
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepscope.atlas.build import THRESHOLD, Atlas, build_atlas
from deepscope.atlas.icons import IconSettings, render_icons, resolved
from deepscope.atlas.layout import layout as run_layout
from deepscope.atlas.layout import spread_layout
from deepscope.atlas.request import atlas_grid, atlas_positions, sampled_cells
from deepscope.data.sources import as_source
from deepscope.diff.aligned import Aligned, collect_aligned
from deepscope.diff.cells import CellScores, cell_scores, survival, top_classes
from deepscope.diff.figure import diff_picture
from deepscope.diff.ridge import FOLDS, LinearMap, fit_map
from deepscope.diff.sides import side
from deepscope.jobs import write_bytes, write_json
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import prepare_output_dir

DIFF_ICONS = IconSettings(steps=256, attempts=1)  # two icons a cell: half the atlas's default work


@dataclass
class ModelDiff:
    """The result of `diff_models`: `aligned` rows, the held-out `map`, A's `atlas` (layout, grid,
    A's icons), per-cell `scores` (B's directions among them), B's icons and both models' top classes."""

    aligned: Aligned
    map: LinearMap
    atlas: Atlas
    scores: CellScores
    icons_b: torch.Tensor | None = None
    tops_a: list | None = None
    tops_b: list | None = None
    survives: list[bool] | None = None
    timings: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def r2(self) -> float:
        """The map's held-out R²."""
        return self.map.r2

    @property
    def top_class_survival(self) -> float | None:
        """Share of cells whose top class in A is the top class in B (None without shared classes)."""
        return None if self.survives is None else float(np.mean(self.survives)) if self.survives else 0.0

    def picture(self) -> Image.Image:
        a, b = self.aligned.a, self.aligned.b
        header = (f"held-out R2 {self.r2:.3f}; median change {np.median(self.scores.change):.3f}"
                  + (f"; top class survives in {self.top_class_survival:.0%} of cells"
                     if self.survives is not None else ""))
        return diff_picture(self.atlas.grid.cells, self.atlas.grid.size, self.scores.change,
                            (f"A: {a.model.key} {a.layer}", f"B: {b.model.key} {b.layer}"),
                            self.atlas.icons, self.icons_b, header)

    def cell_entries(self) -> list[dict]:
        grid, s = self.atlas.grid, self.scores
        sources = [e.get("sources", []) for e in self.atlas.cell_entries(top_classes=0)]
        entries = []
        for i, ((x, y), count) in enumerate(zip(grid.cells.tolist(), grid.counts.tolist())):
            entry = {"grid": [x, y], "count": int(count), "r2": round(float(s.r2[i]), 5),
                     "cosine": round(float(s.cosine[i]), 5), "change": round(float(s.change[i]), 5)}
            if self.tops_a is not None and self.tops_b is not None:
                entry["top_classes_a"], entry["top_classes_b"] = self.tops_a[i], self.tops_b[i]
            if self.survives is not None:
                entry["top_class_survives"] = bool(self.survives[i])
            entries.append({**entry, "sources": sources[i]})
        return entries

    def to_json(self) -> dict:
        al = self.aligned
        return {"model_a": al.a.model.key, "layer_a": al.a.layer, "layout_a": al.a.spec.describe(),
                "input_size_a": al.a.model.input_size, "model_b": al.b.model.key, "layer_b": al.b.layer,
                "layout_b": al.b.spec.describe(), "input_size_b": al.b.model.input_size,
                "num_images": len(set(al.image.tolist())), "unreadable_images": len(al.failed),
                "num_activations": len(al), "map": self.map.summary(), "grid": self.atlas.grid.size,
                "threshold": self.atlas.grid.threshold, "activations_in_cells": int(self.atlas.grid.counts.sum()),
                "change": self.scores.summary(), "top_class_survival": self.top_class_survival,
                "coherence_a": self.atlas.coherence, "params": self.params,
                "timings_s": {k: round(v, 2) for k, v in self.timings.items()}, "cells": self.cell_entries()}

    def save(self, out: str | os.PathLike) -> Path:
        """Write `diff.png` and `diff.json` into `out` (each atomically)."""
        out = prepare_output_dir(out)
        buffer = io.BytesIO()
        self.picture().save(buffer, format="PNG")
        write_bytes(out / "diff.png", buffer.getvalue())
        write_json(out / "diff.json", self.to_json())
        return out


def diff_models(model_a: VisionModel, layer_a: str, model_b: VisionModel, layer_b: str | None, images,
                store: str | os.PathLike, *, positions: int | None = None, margin: int = 1, grid: int | None = None,
                threshold: int = THRESHOLD, layout: str = "umap", layout_params: dict | None = None,
                spread: bool = False, icons: IconSettings | None = DIFF_ICONS,
                attribution: bool = True, folds: int = FOLDS, seed: int = 0, batch_size: int = 16,
                workers: int | None = None, limit: int | None = None, progress: bool = True) -> ModelDiff:
    """Compare `layer_a` of `model_a` with `layer_b` (default: `layer_a`) of `model_b` over `images`.

    The aligned activations are kept in `store` (resumable; a rerun with other grid, layout or icon
    settings collects nothing). `positions` None: sized to the data as the atlas does; `grid` None:
    from the number of activations; `spread` evens the layout out (`atlas.layout.spread_layout`, for a
    few photos); `icons=None`: scores and the coloured grid only.
    """
    a = side(model_a, layer_a, "a", model_b)
    b = side(model_b, layer_b or layer_a, "b", model_a)
    count = len(as_source(images, model_a.input_size).ids)
    count = min(count, limit) if limit else count
    positions = positions or atlas_positions(count, sampled_cells(*a.spec.grid, margin))
    timings = {}
    start = time.perf_counter()
    aligned = collect_aligned(a, b, images, store, positions=positions, margin=margin, seed=seed,
                              attribution=attribution, batch_size=batch_size, workers=workers, limit=limit,
                              progress=progress)
    timings["collect"] = time.perf_counter() - start
    start = time.perf_counter()
    linear = fit_map(aligned.acts_a, aligned.acts_b, aligned.image, folds)
    timings["map"] = time.perf_counter() - start
    icons = resolved(icons, model_a, a.layer) if icons is not None else None
    grid = grid or atlas_grid(len(aligned), threshold)
    start = time.perf_counter()
    coords = run_layout(aligned.acts_a, layout, seed=seed, **(layout_params or {}))
    timings["layout"] = time.perf_counter() - start
    atlas = build_atlas(model_a, aligned.store_a(), a.layer, grid=grid, threshold=threshold,
                        coords=spread_layout(coords) if spread else coords, icons=icons, fidelity=False,
                        seed=seed, progress=progress)
    timings.update({f"{k}_a" if k == "icons" else k: v for k, v in atlas.timings.items()})
    scores = cell_scores(atlas.grid, aligned.acts_b, linear.predicted)
    result = ModelDiff(aligned, linear, atlas, scores, timings=timings)
    if icons is not None:
        start = time.perf_counter()
        result.icons_b, _ = render_icons(model_b, b.layer, scores.directions_b, replace(icons), progress=progress)
        timings["icons_b"] = time.perf_counter() - start
    members = atlas.grid.members
    result.tops_a = top_classes(aligned.attr_a, members, model_a.classes)
    result.tops_b = top_classes(aligned.attr_b, members, model_b.classes)
    result.survives = survival(result.tops_a, result.tops_b, model_a.classes == model_b.classes)
    result.params = {"positions": positions, "margin": margin, "layout": layout, "layout_params": layout_params or {},
                     "spread": spread, "seed": seed, "folds": folds,
                     "icons": asdict(icons) if icons else None, "store": str(store)}
    return result
