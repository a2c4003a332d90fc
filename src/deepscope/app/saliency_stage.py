"""Saliency maps of a few images (deepscope.attribution) and the sanity checks of their methods."""
from __future__ import annotations

import json
from pathlib import Path

from deepscope.app.config import SiteConfig
from deepscope.attribution import attribute
from deepscope.attribution.inputs import load_images
from deepscope.attribution.overlay import overlay
from deepscope.attribution.sanity import SanityConfig, run_sanity
from deepscope.attribution.sanity_plot import plot_cascade, plot_class_sensitivity
from deepscope.attribution.targets import class_name
from deepscope.data.images import save_image
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import write_atomic


def _quiet(_msg: str) -> None:
    pass


def saliency_maps(model: VisionModel, images: Path, site: Path, cfg: SiteConfig) -> dict:
    """`saliency/<n>_<method>.png` overlays and `saliency/saliency.json` for the first images."""
    folder = Path(site) / "saliency"
    folder.mkdir(parents=True, exist_ok=True)
    batch, files, _ = load_images(images, model.input_size, cfg.saliency_images, spread=True, warn=_quiet)
    rows = []
    for n, (image, file) in enumerate(zip(batch, files)):
        save_image(image, folder / f"{n}_image.jpg")
        row = {"image": file.name, "picture": f"saliency/{n}_image.jpg", "maps": []}
        for method in cfg.saliency_methods:
            result = attribute(model, image[None], method)
            target = int(result.targets[0])
            row["target"] = {"index": target, "class": class_name(model, target)}
            save_image(overlay(image, result.map("abs")[0]), folder / f"{n}_{method}.png")
            row["maps"].append({"method": method, "picture": f"saliency/{n}_{method}.png"})
        rows.append(row)
    summary = {"methods": list(cfg.saliency_methods), "images": rows}
    write_atomic(folder / "saliency.json", json.dumps(summary, indent=1))
    return summary


def sanity_checks(model: VisionModel, images: Path, site: Path, cfg: SiteConfig) -> dict:
    """`sanity/sanity.json` (verdict per method), `sanity/cascade.png`, `sanity/class_sensitivity.png`."""
    folder = Path(site) / "sanity"
    folder.mkdir(parents=True, exist_ok=True)
    batch, files, _ = load_images(images, cfg.sanity_size, cfg.sanity_images, spread=True, warn=_quiet)
    report = run_sanity(model, batch, SanityConfig(methods=cfg.saliency_methods, seed=cfg.seed))
    report["files"] = [f.name for f in files]
    plot_cascade(report, folder / "cascade.png")
    plot_class_sensitivity(report, folder / "class_sensitivity.png")
    write_atomic(folder / "sanity.json", json.dumps(report, indent=1))
    return report
