"""Feature visualizations of a layer's units: one render per channel plus diverse variants.

Resumable per unit: a unit is finished when its `fv/<c>.json` exists, so a rerun renders only
the channels that are missing (a batch of channels shares one optimization).
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from deepscope.app.config import SiteConfig
from deepscope.app.paths import layer_data, layer_dir
from deepscope.data.images import save_image
from deepscope.models.vision_model import VisionModel
from deepscope.render import channel, diversity, render
from deepscope.viz.output import write_atomic

DIVERSITY_WEIGHT = 100.0  # Olah et al.'s notebook: channel − 1e2 · Σ cos(Gram)
BATCH = 8


def _unit_json(folder: Path, c: int) -> Path:
    return folder / f"{c}.json"


def render_units(model: VisionModel, layer: str, channels: list[int], site: Path, cfg: SiteConfig,
                 progress: bool = True) -> dict:
    """Render every missing unit of `channels`; write and return `data/fv.json`."""
    folder = layer_dir(site, layer) / "fv"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [c for c in channels if not _unit_json(folder, c).is_file()]
    bar = tqdm(total=len(channels), initial=len(channels) - len(missing), desc=f"fv {layer}", unit="unit",
               disable=not progress)
    for start in range(0, len(missing), BATCH):
        part = missing[start:start + BATCH]
        _render_batch(model, layer, part, folder, cfg, seed=cfg.seed + start)
        bar.update(len(part))
    bar.close()
    units = {str(c): json.loads(_unit_json(folder, c).read_text()) for c in channels}
    summary = {"layer": layer, "size": cfg.fv_size, "steps": cfg.fv_steps, "variants": cfg.variants, "units": units}
    path = layer_data(site, layer, "fv")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary, indent=1))
    return summary


def _render_batch(model, layer: str, chans: list[int], folder: Path, cfg: SiteConfig, seed: int) -> None:
    common = {"size": cfg.fv_size, "steps": cfg.fv_steps, "seed": seed, "progress": False}
    main = render(model, [channel(layer, c) for c in chans], **common)
    variants = None
    if cfg.variants >= 2:
        objectives = [channel(layer, c) + DIVERSITY_WEIGHT * diversity(layer) for c in chans]
        variants = render(model, objectives, images_per_objective=cfg.variants, **common)
    for i, c in enumerate(chans):
        save_image(main.images[i], folder / f"{c}.png")
        entry = {"channel": c, "image": f"fv/{c}.png", "score": round(float(main.scores[i]), 5), "variants": []}
        if variants is not None:
            for j in range(cfg.variants):
                k = i * cfg.variants + j
                save_image(variants.images[k], folder / f"{c}_v{j}.png")
                entry["variants"].append({"image": f"fv/{c}_v{j}.png", "score": round(float(variants.scores[k]), 5)})
        write_atomic(_unit_json(folder, c), json.dumps(entry))  # written last: the unit is done
