"""Saliency maps of a few images (deepscope.attribution) and the sanity checks of their methods."""
from __future__ import annotations

from pathlib import Path

from deepscope.app.config import SiteConfig
from deepscope.app.html import esc
from deepscope.attribution.faithfulness import table
from deepscope.attribution.faithfulness.measure import FAITHFULNESS, EvaluateConfig
from deepscope.attribution.faithfulness.runner import evaluate
from deepscope.attribution.inputs import load_images
from deepscope.attribution.overlay import overlay
from deepscope.attribution.report import explain_batches, sanity_folder
from deepscope.attribution.sanity import SanityConfig
from deepscope.attribution.targets import class_name
from deepscope.data.images import save_image
from deepscope.jobs import write_json
from deepscope.models.vision_model import VisionModel

SITE_FAITHFULNESS = {"steps": 10, "percentages": (20, 50, 80)}  # few steps: the site builds in minutes


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
    report = sanity_folder(model, images, Path(site) / "sanity", checks,
                           count=cfg.sanity_images, size=cfg.sanity_size, quiet=True, file_label=lambda f: f.name)
    report["faithfulness"] = faithfulness_checks(model, images, Path(site) / "sanity", cfg)
    write_json(Path(site) / "sanity" / "sanity.json", report)
    return report


def faithfulness_checks(model: VisionModel, images: Path, folder: Path, cfg: SiteConfig) -> dict:
    """The faithfulness metrics (`deepscope evaluate`, few steps) on the sanity images: the table's
    rows and `faithfulness.png` (every method's curves)."""
    batch, _, _ = load_images(images, cfg.sanity_size, cfg.sanity_images, spread=True, warn=_quiet)
    settings = EvaluateConfig(methods=tuple(cfg.saliency_methods), metrics=FAITHFULNESS, seed=cfg.seed,
                              **SITE_FAITHFULNESS)
    report = {"model": model.name, "images": len(batch), "size": cfg.sanity_size, **evaluate(model, batch, settings)}
    from deepscope.attribution.faithfulness import plot  # here: importing it sets matplotlib's Agg backend

    plot.plot_overview(report, folder / "faithfulness.png", dpi=90)
    header, rows, _ = table.rows(report)
    return {"header": header, "rows": rows, "picture": "sanity/faithfulness.png",
            **SITE_FAITHFULNESS, "percentages": list(SITE_FAITHFULNESS["percentages"])}


def faithfulness_html(faithfulness: dict | None) -> str:
    """The sanity page's faithfulness section (empty for a site built before it existed)."""
    if not faithfulness:
        return ""
    head = "".join(f"<th>{esc(h)}</th>" for h in faithfulness["header"])
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in faithfulness["rows"])
    return (f'<h2>Faithfulness</h2><p class="muted">Deletion and insertion ({faithfulness["steps"]} steps), ROAD '
            f'(MoRF and LeRF at {", ".join(map(str, faithfulness["percentages"]))}% removed), Random Logit and '
            'Sparseness on the same images; random-map is the reference. See <code>deepscope evaluate</code> '
            f'for more images and steps.</p><table class="verdicts"><tr>{head}</tr>{body}</table>'
            f'<img class="sheet" src="{esc(faithfulness["picture"])}" alt="deletion, insertion and ROAD curves">')

