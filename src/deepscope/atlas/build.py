"""The atlas pipeline on collected activations: layout -> grid -> icons -> quality -> picture/JSON."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from deepscope.atlas.canvas import add_column_labels, assemble
from deepscope.atlas.collection.store import ActivationStore
from deepscope.atlas.grid import Grid, bin_layout, whitening
from deepscope.atlas.icons import IconSettings, render_icons, resolved
from deepscope.atlas.layout import layout as run_layout
from deepscope.atlas.quality import animal_clustering, coherence, icon_fidelity
from deepscope.data.images import save_image
from deepscope.errors import DeepscopeError
from deepscope.jobs import write_json
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import prepare_output_dir

# Icon fidelity the project holds itself to (issue 3): median cell and share of cells.
MIN_MEDIAN_COSINE = 0.8
MIN_FRACTION_BEATING_REAL = 0.9
DEFAULT_ICONS = IconSettings()
GRID, THRESHOLD = 20, 5  # a layer's atlas: grid×grid cells, cells with fewer activations left empty
MAX_CANVAS = 16384  # the atlas picture's largest side in pixels (grid x icon size)
SMALLEST_AUTO_ICON = 80  # the automatic icon size is at least this (see `icons.auto_icon_size`)
OUTPUTS = ("icons", "atlas.png", "atlas.json")  # what `Atlas.save` writes, replaced together


def check_canvas(grid: int, icon_size: int | None) -> None:
    """A clear error, before any work, for an atlas whose picture would be too large or a grid below 1."""
    if grid < 1:
        raise DeepscopeError(f"--grid must be at least 1, got {grid}")
    side = grid * (icon_size or SMALLEST_AUTO_ICON)
    if side > MAX_CANVAS:
        raise DeepscopeError(f"a {grid}x{grid} atlas of {icon_size or SMALLEST_AUTO_ICON} px icons is {side} px "
                             f"wide, over the {MAX_CANVAS} px limit: use --grid "
                             f"{MAX_CANVAS // (icon_size or SMALLEST_AUTO_ICON)} or less, or a smaller --icon-size")


@dataclass
class Atlas:
    """A laid-out, binned and (optionally) rendered atlas of `data` (the rows it was built from)."""

    layer: str
    data: ActivationStore
    coords: np.ndarray
    grid: Grid
    icons: torch.Tensor | None = None
    scores: np.ndarray | None = None
    fidelity: dict | None = None
    coherence: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    opacity: np.ndarray | None = None
    column_labels: list[str | None] | None = None
    timings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def cell_attribution(self) -> np.ndarray | None:
        """(M, classes) mean attribution of each cell's activations, or None without attributions."""
        if self.data.attr is None:
            return None
        return np.stack([self.data.attr[m].astype(np.float64).mean(0) for m in self.grid.members])

    def picture(self) -> Image.Image:
        if self.icons is None:
            raise DeepscopeError("this atlas has no icons (built with icons=None)")
        picture = assemble(self.icons, self.grid.cells, self.grid.size, opacity=self.opacity)
        return add_column_labels(picture, self.column_labels) if self.column_labels else picture

    def _repr_html_(self) -> str:  # Jupyter: the grid of icons, a cell's count and top classes on hover
        from deepscope.viz.notebook import atlas_html

        return atlas_html(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"Atlas of {self.layer}: {len(self.grid)} cells, {self.grid.size}x{self.grid.size} grid")

    def cell_entries(self, top_classes: int = 5, sources: int = 4) -> list[dict]:
        attr, names = self.cell_attribution(), self.data.classes
        unit = self.data.acts / (np.linalg.norm(self.data.acts, axis=1, keepdims=True) + 1e-12)
        entries = []
        for i, ((x, y), count, members) in enumerate(zip(self.grid.cells.tolist(), self.grid.counts, self.grid.members)):
            entry = {"grid": [x, y], "count": int(count)}
            if attr is not None:
                top = np.argsort(-attr[i])[:top_classes]
                entry["top_classes"] = [{"index": int(c), "class": names[c] if names else str(c),
                                         "attribution": round(float(attr[i, c]), 5)} for c in top]
            closest = members[np.argsort(-(unit[members] @ self.grid.directions[i]))[:sources]]
            entry["sources"] = [self.data.source(r) for r in closest] if self.data.ids else []
            if self.icons is not None:
                entry["icon"] = icon_name(x, y)
                entry["score"] = round(float(self.scores[i]), 5)
            if self.fidelity:
                entry["centre_cosine"] = round(self.fidelity["cosine"][i], 5)
                entry["best_real_score"] = round(self.fidelity["best_real_score"][i], 5)
                entry["beats_real"] = bool(self.fidelity["beats_real"][i])
            if self.opacity is not None:
                entry["opacity"] = round(float(self.opacity[i]), 4)
            entries.append(entry)
        return entries

    def to_json(self) -> dict:
        data = self.data
        out = {"model": data.meta.get("model"), "layer": self.layer, "grid": self.grid.size,
               "threshold": self.grid.threshold, "cells_rendered": len(self.grid),
               "num_activations": len(data), "activations_in_cells": int(self.grid.counts.sum()),
               "num_images": len(set(data.image.tolist())) if data.ids else None,
               "unreadable_images": len(data.failed), "params": self.params,
               "fidelity": self.fidelity["summary"] if self.fidelity else None,
               "coherence": self.coherence, **self.extra, "timings_s": self.timings}
        if self.column_labels:
            out["column_labels"] = self.column_labels
        out["cells"] = self.cell_entries()
        return out

    def save(self, out: str | Path) -> Path:
        """Write `atlas.png`, `atlas.json` and `icons/cell_X_Y.png` into `out`: all into a temporary
        folder first, then swapped in together, so a failed save leaves the previous atlas whole."""
        out = prepare_output_dir(out)
        stage = Path(tempfile.mkdtemp(prefix=".atlas-", dir=out))
        try:
            if self.icons is not None:
                (stage / "icons").mkdir()
                for (x, y), icon in zip(self.grid.cells.tolist(), self.icons):
                    save_image(icon, stage / icon_name(x, y))
                self.picture().save(stage / "atlas.png")
            write_json(stage / "atlas.json", self.to_json())
            _replace_outputs(stage, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return out


def _replace_outputs(stage: Path, out: Path) -> None:
    """Move the staged outputs into `out`, removing the previous atlas's (atlas.json first, last in)."""
    for name in reversed(OUTPUTS):
        old = out / name
        if old.is_dir():
            old.rename(stage / f"old-{name}")
        elif old.exists():
            old.unlink()
    for name in OUTPUTS:
        if (stage / name).exists():
            os.replace(stage / name, out / name)


def icon_name(x: int, y: int) -> str:
    return f"icons/cell_{x:03d}_{y:03d}.png"


def as_data(data, layer: str | None) -> ActivationStore:
    """An `ActivationStore` from a store or a bare (N, C) activation array."""
    if isinstance(data, ActivationStore):
        return data
    acts = np.asarray(data.detach().cpu() if isinstance(data, torch.Tensor) else data, dtype=np.float32)
    if acts.ndim != 2:
        raise DeepscopeError(f"activations must be shaped (samples, channels), got {acts.shape}")
    n = len(acts)
    return ActivationStore(None, {"layer": layer}, [], acts, np.zeros(n, np.int64), np.zeros((n, 2), np.int16))


def build_atlas(model: VisionModel | None, data, layer: str | None = None, *, grid: int = GRID,
                threshold: int = THRESHOLD, layout: str = "umap", layout_params: dict | None = None,
                coords: np.ndarray | None = None,
                whiten: bool = False, icons: IconSettings | None = DEFAULT_ICONS, fidelity: bool = True,
                seed: int = 0, progress: bool = True) -> Atlas:
    """Lay out `data` (an `ActivationStore` or (N, C) array), bin it into a grid×grid atlas and
    render one icon per cell (skip with `icons=None`; `model` may then be None).

    `coords` (N, 2) in [0, 1] replaces the layout (the two-class comparison sets its own axes).
    `whiten` renders icons for v·S, S = pinv(AᵀA/N). Fidelity and coherence are measured.
    """
    data = as_data(data, layer)
    layer = layer or data.layer
    if not layer:
        raise DeepscopeError("name the layer the activations come from")
    if icons is not None and model is not None:
        icons = resolved(icons, model, layer)
    if icons is not None:
        check_canvas(grid, icons.size)
    elif grid < 1:
        raise DeepscopeError(f"--grid must be at least 1, got {grid}")
    timings = {}
    start = time.perf_counter()
    if coords is None:
        with tqdm(total=1, desc=f"layout ({layout}, {len(data)} activations)", disable=not progress) as bar:
            coords = run_layout(data.acts, layout, seed=seed, **(layout_params or {}))
            bar.update(1)
        timings["layout"] = time.perf_counter() - start
    t = time.perf_counter()
    cells = bin_layout(coords, data.acts, grid, threshold)
    white = whitening(data.acts) if whiten else None
    timings["grid"] = time.perf_counter() - t
    if icons is not None and model is not None:
        icons = resolved(icons, model, layer, getattr(data, "meta", None))
    params = {"layout": layout if "layout" in timings else "given", "layout_params": layout_params or {},
              "whiten": whiten, "seed": seed, "icons": asdict(icons) if icons else None}
    atlas = Atlas(layer, data, coords, cells, coherence=coherence(cells), params=params, timings=timings)
    if icons is not None:
        if model is None:
            raise DeepscopeError("rendering icons needs the model")
        t = time.perf_counter()
        atlas.icons, atlas.scores = render_icons(model, layer, cells.directions, icons, white, progress)
        timings["icons"] = time.perf_counter() - t
        if fidelity:
            t = time.perf_counter()
            atlas.fidelity = icon_fidelity(model, layer, cells, data.acts, atlas.icons, icons, white)
            summary = atlas.fidelity["summary"]
            summary["passes"] = bool(summary["median_cosine"] >= MIN_MEDIAN_COSINE
                                     and summary["fraction_beating_real"] >= MIN_FRACTION_BEATING_REAL)
            timings["fidelity"] = time.perf_counter() - t
    if data.attr is not None and data.classes and len(data.classes) == 1000:
        atlas.extra["animal_clustering"] = animal_clustering(cells, atlas.cell_attribution())
    return atlas
