"""Top-k dataset examples per unit (deepscope.examples), cut into one crop file per example."""
from __future__ import annotations

import json
from pathlib import Path

from deepscope.app.config import SiteConfig
from deepscope.app.crops import Cropper
from deepscope.app.paths import layer_data, layer_dir, layer_slug, work_dir
from deepscope.examples import dataset_examples, receptive_field
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import write_atomic


def unit_examples(model: VisionModel, layer: str, channels: list[int], files: list[Path], site: Path,
                  cfg: SiteConfig, progress: bool = True, groups: list[str] | None = None) -> dict:
    """Run (or resume) the top-k pass and write `examples/<c>_<rank>.jpg` and `data/examples.json`;
    `groups` (the source photo of each file): at most two examples of one photo per unit."""
    report = dataset_examples(model, layer, files, work_dir(site, "examples", layer_slug(layer)), channels=channels,
                              k=cfg.top, batch_size=cfg.batch_size, deconv=0, progress=progress, groups=groups)
    cropper = Cropper(receptive_field(model, layer, report["input_size"]))
    source_of = dict(zip(map(str, files), groups or []))
    root = layer_dir(site, layer)
    units = {}
    for entry in report["channels"]:
        c = entry["channel"]
        shown = []
        for ex in entry["examples"]:
            name = f"examples/{c}_{ex['rank']}.jpg"
            if cropper.save(ex["image"], tuple(ex["position"]), root / name):
                shown.append({"rank": ex["rank"], "image": Path(ex["image"]).name, "score": round(ex["score"], 4),
                              "mean": round(ex["mean"], 4), "position": ex["position"], "crop": name,
                              **({"source": source_of[ex["image"]]} if groups else {})})
        units[str(c)] = shown
    rf = report["receptive_field"]
    summary = {"layer": layer, "kind": layer_spec(model, layer).kind, "top": cfg.top, "score": report["score"], "images": report["files"]["read"],
               "receptive_field": {"size": rf["size"], "stride": rf["stride"]}, "units": units}
    path = layer_data(site, layer, "examples")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary, indent=1))
    return summary
