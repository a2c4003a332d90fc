"""Saliency maps of a few images (deepscope.attribution) and the sanity checks of their methods."""
from __future__ import annotations

from pathlib import Path

from deepscope.app.config import SiteConfig
from deepscope.attribution.inputs import load_images
from deepscope.attribution.overlay import overlay
from deepscope.attribution.report import explain_batches, sanity_folder
from deepscope.attribution.sanity import SanityConfig
from deepscope.attribution.targets import class_name
from deepscope.data.images import save_image
from deepscope.jobs import write_json
from deepscope.models.vision_model import VisionModel


def _quiet(_msg: str) -> None:
    pass


def saliency_maps(model: VisionModel, images: Path, site: Path, cfg: SiteConfig) -> dict:
    """`saliency/<n>_<method>.png` overlays and `saliency/saliency.json` for the first images."""
    folder = Path(site) / "saliency"
    folder.mkdir(parents=True, exist_ok=True)
    batch, files, _ = load_images(images, model.input_size, cfg.saliency_images, spread=True, warn=_quiet)
    one_by_one = ((image[None], [file]) for image, file in zip(batch, files))
    rows = []
    for n, done in enumerate(explain_batches(model, one_by_one, cfg.saliency_methods)):
        image, target = done.images[0], int(done.targets[0])
        save_image(image, folder / f"{n}_image.jpg")
        row = {"image": done.files[0].name, "picture": f"saliency/{n}_image.jpg", "maps": []}
        for method, result in done.results.items():
            row["target"] = {"index": target, "class": class_name(model, target)}
            save_image(overlay(image, result.map("abs")[0]), folder / f"{n}_{method}.png")
            row["maps"].append({"method": method, "picture": f"saliency/{n}_{method}.png"})
        rows.append(row)
    summary = {"methods": list(cfg.saliency_methods), "images": rows}
    write_json(folder / "saliency.json", summary)
    return summary


def sanity_checks(model: VisionModel, images: Path, site: Path, cfg: SiteConfig) -> dict:
    """`sanity/sanity.json` (verdict per method), `sanity/cascade.png`, `sanity/class_sensitivity.png`."""
    checks = SanityConfig(methods=cfg.saliency_methods, seed=cfg.seed)
    return sanity_folder(model, images, Path(site) / "sanity", checks,
                         count=cfg.sanity_images, size=cfg.sanity_size, quiet=True, file_label=lambda f: f.name)

