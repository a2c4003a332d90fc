"""`build_site`: precompute every view of the chosen layers (resumable stages), then write the pages."""
from __future__ import annotations

import hashlib
import json
import os
from functools import partial
from importlib import resources
from pathlib import Path

from deepscope.app.atlas_stage import layer_atlas
from deepscope.app.config import SiteConfig
from deepscope.app.costs import atlas_cost, stage_costs
from deepscope.app.default_images import credits, write_default_images
from deepscope.app.diff_stage import PAGE as DIFF_PAGE
from deepscope.app.diff_stage import diff_layer, diff_summary, model_diff, write_diff_page
from deepscope.app.examples_stage import unit_examples
from deepscope.app.fv_stage import render_units
from deepscope.app.html import SiteInfo, copy_assets
from deepscope.app.layer_pages import write_layer_pages
from deepscope.app.overview import model_overview
from deepscope.app.paths import layer_data, work_dir
from deepscope.app.saliency_stage import saliency_maps, sanity_checks
from deepscope.app.site_layers import resolve_layers
from deepscope.app.site_pages import write_site_pages
from deepscope.app.stages import StageRunner
from deepscope.app.weights_stage import class_weights
from deepscope.data.images import image_files
from deepscope.data.sources import image_groups
from deepscope.data.stream import file_listing
from deepscope.errors import DeepscopeError
from deepscope.jobs import settings_key, write_text
from deepscope.models import LayerSpec, layer_spec
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import prepare_output_dir

ATLAS_VERSION = 2  # sized to the data, spread layout

def _files_digest(files: list[Path], folder: Path) -> str:
    """Names (relative to the image folder) and sizes: a moved site or image folder keeps its stages."""
    return settings_key(file_listing(files, folder))


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _pages_key(site: Path, layers: list[str]) -> str:
    """Pages depend on every stage's data and on the package's templates and scripts."""
    digest = hashlib.sha256()
    paths = [site / "data" / "model.json", site / "saliency" / "saliency.json", site / "sanity" / "sanity.json",
             diff_summary(site)]
    paths += [layer_data(site, layer, what) for layer in layers for what in ("fv", "examples", "atlas", "weights")]
    for path in paths:
        digest.update(path.read_bytes() if path.is_file() else b"-")
    package = resources.files("deepscope.app")
    for folder in ("templates", "static"):
        for item in sorted((package / folder).iterdir(), key=lambda p: p.name):
            digest.update(item.read_bytes())
    return digest.hexdigest()[:16]


def build_site(model: VisionModel, out: str | os.PathLike, cfg: SiteConfig | None = None, *,
               images: str | os.PathLike | None = None, progress: bool = True,
               model_b: VisionModel | None = None) -> dict:
    """Build (or finish, or refresh) the static site in `out`; returns `data/build.json`.

    `images`: a folder of images (None: the default set, views of the photos shipped with
    scikit-image, scikit-learn and Matplotlib). A folder with a `sources.json` manifest (the default
    set has one) keeps at most two dataset examples of one source photo per unit. Every stage is
    skipped on a rerun with the same settings. `data/build.json` holds no path of this machine.
    `model_b`: a second model (or checkpoint) diffed against `model` on the first spatial layer (`diff.html`).
    """
    site = prepare_output_dir(out)
    default_set = images is None
    cfg = cfg or SiteConfig()
    folder, files = _site_images(site, images, cfg)
    groups = image_groups(files, folder)
    specs = resolve_layers(model, cfg)
    layers = list(specs)
    channels_of = {layer: cfg.channels or list(range(spec.channels)) for layer, spec in specs.items()}
    base = f"{model.name}|{_files_digest(files, folder)}"
    diffed = diff_layer(model, model_b, layers) if model_b is not None else None
    plan = stage_costs(cfg, specs, len(files))
    if diffed:  # two models' activations and icons: about two atlases
        plan = {**plan, "diff": 2 * atlas_cost(cfg, specs[diffed], len(files))}
    runner = StageRunner(site, plan, progress=progress)

    image_info = {"source": "default set" if default_set else str(folder), "count": len(files),
                  "credits": credits() if default_set else []}
    pages = []
    if cfg.saliency_images:
        pages.append(("saliency.html", "Saliency"))
    if cfg.sanity_images:
        pages.append(("sanity.html", "Sanity checks"))
    if diffed:
        pages.append(DIFF_PAGE)
    runner.run("overview", settings_key([base, layers, pages]),
               lambda: model_overview(model, layers, site, {"images": image_info, "pages": pages}))
    for layer in layers:
        _layer_stages(runner, model, layer, channels_of[layer], (files, groups), folder, base, cfg, progress)
    if cfg.saliency_images:
        runner.run("saliency", base + cfg.key("saliency_images", "saliency_methods"),
                   lambda: saliency_maps(model, folder, site, cfg))
    else:
        runner.skip("saliency")
    if cfg.sanity_images:
        runner.run("sanity", base + cfg.key("sanity_images", "sanity_size", "saliency_methods", "seed"),
                   lambda: sanity_checks(model, folder, site, cfg))
    else:
        runner.skip("sanity")
    if diffed:
        runner.run("diff", f"{base}|{model_b.key}|{diffed}|" + cfg.key(
            "limit", "atlas_grid", "atlas_positions", "atlas_layout", "atlas_threshold", "icon_size", "icon_steps",
            "seed", "batch_size"), partial(model_diff, model, model_b, diffed, folder, site, cfg, progress, len(files)))
    runner.run("pages", _pages_key(site, layers), lambda: write_pages(site, layers, specs, cfg))
    summary = {"layers": layers, "images": len(files), "stages_run": runner.ran, "stages_skipped": runner.skipped,
               "timings_s": runner.timings, "cpu_s": runner.cpu}
    write_text(site / "data" / "build.json", json.dumps(summary, indent=1))
    return {"site": str(site), **summary}


def _site_images(site: Path, images, cfg: SiteConfig) -> tuple[Path, list[Path]]:
    """The image folder (the default set when `images` is None) and its files."""
    folder = write_default_images(work_dir(site, "default-images")) if images is None else Path(images)
    if not folder.is_dir():
        raise DeepscopeError(f"--images {str(folder)!r} is not a folder of images")
    files = image_files(folder)[:cfg.limit] if cfg.limit else image_files(folder)
    if not files:
        raise DeepscopeError(f"no image files found under {str(folder)!r}")
    return folder, files


def _layer_stages(runner: StageRunner, model: VisionModel, layer: str, chans: list[int],
                  images: tuple[list[Path], list[str] | None], folder: Path, base: str, cfg: SiteConfig,
                  progress: bool) -> None:
    """The four stages of one layer: feature visualizations, dataset examples, class weights, atlas (maps and
    tokens only). `images`: the files and their source photos (None: no manifest)."""
    site, (files, groups) = runner.site, images
    key = f"{base}|{layer}|{chans}|"
    runner.run(f"fv/{layer}", key + cfg.key("fv_size", "fv_steps", "variants", "seed"),
               partial(render_units, model, layer, chans, site, cfg, progress))
    runner.run(f"examples/{layer}", key + cfg.key("top", "limit", "batch_size") + (settings_key(groups) if groups else ""),
               partial(unit_examples, model, layer, chans, files, site, cfg, progress, groups))
    runner.run(f"weights/{layer}", key, partial(class_weights, model, layer, chans, site))
    if cfg.atlas and layer_spec(model, layer).spatial:  # a vector has no positions to lay out
        runner.run(f"atlas/{layer}", f"{base}|{layer}|{ATLAS_VERSION}|" + cfg.key(
            "limit", "atlas_grid", "atlas_positions", "atlas_layout", "atlas_threshold", "icon_size",
            "icon_steps", "seed", "batch_size"), partial(layer_atlas, model, layer, folder, site, cfg, progress,
                                                         len(files)))
    else:
        runner.skip(f"atlas/{layer}")
        layer_data(site, layer, "atlas").unlink(missing_ok=True)


def write_pages(site: Path, layers: list[str], specs: dict[str, LayerSpec], cfg: SiteConfig) -> None:
    """Every HTML page from the stages' data files, plus the shared CSS and script."""
    model = _read(site / "data" / "model.json")
    info = SiteInfo(model["model"], layers, [(url, label) for url, label in model.get("pages", [])])
    copy_assets(site)
    saliency = _read(site / "saliency" / "saliency.json") if cfg.saliency_images else None
    sanity = _read(site / "sanity" / "sanity.json") if cfg.sanity_images else None
    write_site_pages(site, info, model, saliency, sanity)
    if DIFF_PAGE[0] in [url for url, _ in info.extra_pages]:
        write_diff_page(site, info)
    for layer in layers:
        write_layer_pages(site, info, layer, specs[layer], _read(layer_data(site, layer, "fv")),
                          _read(layer_data(site, layer, "examples")),
                          _read(layer_data(site, layer, "atlas")) if cfg.atlas else None,
                          _read(layer_data(site, layer, "weights")) or {})

