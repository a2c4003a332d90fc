"""The two-model page of a site (`deepscope site --model-b ...`): `deepscope.diff` on the site's first
layer with a spatial map, sized like the site's atlas, written to `diff/` and shown on `diff.html`."""
from __future__ import annotations

import json
from pathlib import Path

from deepscope.app.atlas_stage import MARGIN, SITE_UMAP, site_atlas_size
from deepscope.app.config import SiteConfig
from deepscope.app.html import SiteInfo, esc, write_page
from deepscope.app.paths import work_dir
from deepscope.atlas.icons import IconSettings
from deepscope.errors import DeepscopeError
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel

PAGE = ("diff.html", "Model diff")
DIFF_DIR = "diff"
SHOWN = 12  # cells listed on the page: the most changed ones


def diff_layer(model: VisionModel, model_b: VisionModel, layers: list[str]) -> str | None:
    """The layer a site diffs: its first with a spatial map in both models (None: no layer has a map in
    `model`; an error naming the fix when `model_b` has none of them)."""
    from deepscope.diff import side

    spatial = [layer for layer in layers if layer_spec(model, layer).spatial]
    for layer in spatial:
        try:
            return side(model_b, layer, "b").layer
        except DeepscopeError:
            continue
    if spatial:
        raise DeepscopeError(f"the second model ({model_b.name}) has no spatial layer named like the site's "
                             f"({', '.join(spatial)}); give --layers a layer both models have, or leave --model-b out")
    return None


def diff_summary(site: Path) -> Path:
    return Path(site) / DIFF_DIR / "diff.json"


def model_diff(model: VisionModel, model_b: VisionModel, layer: str, images: Path, site: Path, cfg: SiteConfig,
               progress: bool = True, count: int | None = None) -> dict:
    """Diff `layer` of the two models over the site's images (aligned activations kept in `.work/`)."""
    from deepscope.diff import diff_models

    positions, _ = site_atlas_size(cfg, layer_spec(model, layer), count or 1)
    result = diff_models(model, layer, model_b, None, images, work_dir(site, "diff-aligned"), positions=positions,
                         margin=MARGIN, grid=cfg.atlas_grid, threshold=cfg.atlas_threshold, layout=cfg.atlas_layout,
                         layout_params=SITE_UMAP if cfg.atlas_layout == "umap" else None, spread=True,
                         icons=IconSettings(size=cfg.icon_size, steps=cfg.icon_steps, attempts=1, seed=cfg.seed),
                         seed=cfg.seed, batch_size=cfg.batch_size, limit=cfg.limit, progress=progress)
    result.save(Path(site) / DIFF_DIR)
    return {"r2": result.r2, "cells": len(result.scores.change)}


def _cell_row(cell: dict) -> str:
    def names(key: str) -> str:
        return ", ".join(t["class"] for t in cell.get(key, [])[:3])

    survives = {True: "yes", False: "no"}.get(cell.get("top_class_survives"), "")
    return (f'<tr><td class="mono">{cell["grid"][0]}, {cell["grid"][1]}</td><td>{cell["count"]}</td>'
            f'<td>{cell["change"]:.3f}</td><td>{cell["r2"]:.3f}</td><td>{cell["cosine"]:.3f}</td>'
            f'<td>{esc(names("top_classes_a"))}</td><td>{esc(names("top_classes_b"))}</td><td>{survives}</td></tr>')


def diff_body(summary: dict) -> str:
    cells = sorted(summary["cells"], key=lambda c: -c["change"])[:SHOWN]
    survival = summary.get("top_class_survival")
    return (f'<p>A: <code>{esc(summary["model_a"])}</code> {esc(summary["layer_a"])} ({esc(summary["layout_a"])}) '
            f'against B: <code>{esc(summary["model_b"])}</code> {esc(summary["layer_b"])} '
            f'({esc(summary["layout_b"])}) at the same {summary["num_activations"]} image positions. '
            f'Linear map A → B (ridge): held-out R² <b>{summary["map"]["heldout_r2"]:.3f}</b>; median change '
            f'{summary["change"]["median_change"]:.3f} over {summary["change"]["cells"]} cells'
            + (f'; the top class survives in {survival:.0%} of them' if survival is not None else "") + '.</p>'
            '<p class="muted">A\'s icons (left) and B\'s (right) on one layout of A\'s activations; each cell framed '
            'by its change (1 − the map\'s R² in the cell).</p><img class="sheet" src="diff/diff.png" alt="model diff">'
            f'<h2>The {len(cells)} most changed cells</h2><table class="diff-cells"><tr><th>cell</th><th>n</th>'
            '<th>change</th><th>R²</th><th>cosine</th><th>top classes A</th><th>top classes B</th><th>same top</th>'
            f'</tr>{"".join(_cell_row(c) for c in cells)}</table>')


def write_diff_page(site: Path, info: SiteInfo) -> None:
    """`diff.html` from `diff/diff.json`, when the stage ran."""
    path = diff_summary(site)
    if path.is_file():
        write_page(site, PAGE[0], info, "Model diff", diff_body(json.loads(path.read_text())))
