"""Feature visualizations of a layer's units: one render per channel plus diverse variants.

The render driver renders them a batch of channels at a time (`render_batches`: the channel
objectives, then channel + diversity for the variants) under a `Job` in the layer's `fv/` folder,
so a rerun renders only the batches that are missing. Each unit gets `fv/<c>.png`,
`fv/<c>_v<j>.png` and its entry `fv/<c>.json`; `data/fv.json` gathers the entries.
"""
from __future__ import annotations

from pathlib import Path

from deepscope.app.config import SiteConfig
from deepscope.app.paths import layer_data, layer_dir
from deepscope.data.images import save_image
from deepscope.jobs import Job, write_json
from deepscope.models.vision_model import VisionModel
from deepscope.render import channel, diversity
from deepscope.render.driver import Batch, RenderGroup, plan_batches, render_batches
from deepscope.render.optimize import RenderResult

DIVERSITY_WEIGHT = 100.0  # Olah et al.'s notebook: channel − 1e2 · Σ cos(Gram)
BATCH = 8
VARIANTS = "variants"  # title prefix of the groups that render the diverse variants


def unit_groups(layer: str, channels: list[int], cfg: SiteConfig) -> list[RenderGroup]:
    """Per `BATCH` channels: their channel objectives, then (2 or more variants) channel + diversity."""
    options = {"size": cfg.fv_size, "steps": cfg.fv_steps, "progress": False}
    groups = []
    for start in range(0, len(channels), BATCH):
        part = channels[start:start + BATCH]
        name = ",".join(map(str, part))
        groups.append(RenderGroup(f"units {name}", [channel(layer, c) for c in part], options))
        if cfg.variants >= 2:
            diverse = [channel(layer, c) + DIVERSITY_WEIGHT * diversity(layer) for c in part]
            groups.append(RenderGroup(f"{VARIANTS} {name}", diverse, {**options, "images_per_objective": cfg.variants}))
    return groups


def render_units(model: VisionModel, layer: str, channels: list[int], site: Path, cfg: SiteConfig,
                 progress: bool = True) -> dict:
    """Render every missing unit of `channels`; write and return `data/fv.json`."""
    folder = layer_dir(site, layer) / "fv"
    job = Job(folder, "fv", {"model": model.name, "layer": layer, "size": cfg.fv_size, "steps": cfg.fv_steps,
                             "variants": cfg.variants, "seed": cfg.seed, "batch": BATCH,
                             "diversity_weight": DIVERSITY_WEIGHT})
    groups = unit_groups(layer, channels, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    for item, result in render_batches(model, groups, batch=BATCH, seed=cfg.seed, skip=list(job.units),
                                       progress=progress, desc=f"fv {layer}"):
        job.finish(item.unit, _save_batch(item, result, folder))
    units = _unit_entries(job, plan_batches(groups, BATCH), channels)
    for c, entry in units.items():
        write_json(folder / f"{c}.json", entry, indent=None)
    summary = {"layer": layer, "size": cfg.fv_size, "steps": cfg.fv_steps, "variants": cfg.variants,
               "units": {str(c): entry for c, entry in units.items()}}
    path = layer_data(site, layer, "fv")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, summary)
    return summary


def _save_batch(item: Batch, result: RenderResult, folder: Path) -> dict:
    """Save the batch's images; its record: per channel, the main image or the variants."""
    n, record, variants = result.images_per_objective, {}, item.group.title.startswith(VARIANTS)
    for i, objective in enumerate(item.objectives):
        c = objective.meta["unit"]
        images = []
        for j in range(n):
            name = f"{c}_v{j}.png" if variants else f"{c}.png"
            save_image(result.images[i * n + j], folder / name)
            images.append({"image": f"fv/{name}", "score": round(float(result.scores[i * n + j]), 5)})
        record[str(c)] = {VARIANTS: images} if variants else images[0]
    return record


def _unit_entries(job: Job, batches: list[Batch], channels: list[int]) -> dict[int, dict]:
    """Per channel, `{"channel", "image", "score", "variants"}` from the finished batches' records."""
    parts: dict[int, dict] = {c: {} for c in channels}
    for item in batches:
        for c, fields in (job.record(item.unit) or {}).items():
            parts[int(c)].update(fields)
    return {c: {"channel": c, "image": p["image"], "score": p["score"], VARIANTS: p.get(VARIANTS, [])}
            for c, p in parts.items()}
