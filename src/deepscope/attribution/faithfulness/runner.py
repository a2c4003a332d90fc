"""`deepscope evaluate`: faithfulness metrics of saliency methods on a folder of images, as a
resumable job (one unit per method and metric, plus the randomization checks), with a table and a
plot per method. Defaults live in `EvaluateConfig`."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch

from deepscope.attribution.attribute import attribute
from deepscope.attribution.cam_layer import cam_layer
from deepscope.attribution.faithfulness.measure import (
    CONTROL,
    FAITHFULNESS,
    RANDOMIZATION,
    EvaluateConfig,
    measure,
)
from deepscope.attribution.inputs import load_images
from deepscope.attribution.methods import check_options, get_method
from deepscope.attribution.report import input_size
from deepscope.attribution.targets import class_name, resolve_targets
from deepscope.data.stream import file_listing
from deepscope.errors import DeepscopeError
from deepscope.jobs import Job, write_json
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import prepare_output_dir

DEFAULT_IMAGES = 16  # images evenly spaced over the folder


class MethodMaps:
    """Maps of one method (or random maps for the control) for the images, computed when first asked."""

    def __init__(self, model: VisionModel, images: torch.Tensor, method: str, cfg: EvaluateConfig):
        self.model, self.images, self.method, self.cfg = model, images, method, cfg
        self._maps: torch.Tensor | None = None

    def __call__(self, targets: torch.Tensor, seed_offset: int = 0) -> torch.Tensor:
        """(N, H, W) maps explaining `targets` (N,)."""
        if self.method == CONTROL:
            gen = torch.Generator().manual_seed(self.cfg.seed + 1 + seed_offset)
            return torch.rand(self.images.shape[:1] + self.images.shape[2:], generator=gen).to(self.images.device)
        display, parts = get_method(self.method).display, []
        for at in range(0, len(self.images), self.cfg.batch):
            result = attribute(self.model, self.images[at:at + self.cfg.batch], self.method,
                               targets[at:at + self.cfg.batch], layer=self.cfg.layer, **self.cfg.options)
            parts.append(result.map(display))
        return torch.cat(parts)

    def explained(self, targets: torch.Tensor) -> torch.Tensor:
        if self._maps is None:
            self._maps = self(targets)
        return self._maps


def _sanity(model, images, methods, cfg: EvaluateConfig, say) -> dict:
    from deepscope.attribution.sanity import SanityConfig, run_sanity

    checks = SanityConfig(methods=methods, layer=cfg.layer, seed=cfg.seed, batch=cfg.batch, options=cfg.options)
    return run_sanity(model, images, checks, progress=say)


def evaluate(model: VisionModel, images: torch.Tensor, cfg: EvaluateConfig | None = None, *,
             job: Job | None = None, say: Callable[[str], None] = lambda _m: None) -> dict:
    """Every metric of `cfg` for every method on `images` (N, 3, H, W) in [0, 1], for each image's
    top-1 class: {"methods": {method: {metric: record}}, "randomization": sanity report or None}.
    With a `job`, finished (method, metric) units are read back instead of recomputed."""
    cfg = cfg or EvaluateConfig()
    images = images.to(model.device)
    targets = resolve_targets(model, images)
    rows = list(cfg.methods) + ([CONTROL] if cfg.control else [])
    metrics = [m for m in cfg.metrics if m in FAITHFULNESS]
    results: dict = {}
    for method in rows:
        maps = MethodMaps(model, images, method, cfg)
        results[method] = {}
        for metric in metrics:
            def work(method=method, metric=metric, maps=maps):
                say(f"{method}: {metric}")
                return measure(metric, model, images, maps.explained(targets), targets,
                               lambda classes: maps(classes, seed_offset=1), cfg)
            results[method][metric] = job.run(f"{method}/{metric}", work) if job else work()
    sanity = None
    if RANDOMIZATION in cfg.metrics:
        def checks():
            return _sanity(model, images, list(cfg.methods), cfg, say)
        sanity = job.run(RANDOMIZATION, checks) if job else checks()
    return {"targets": [{"index": int(t), "name": class_name(model, int(t))} for t in targets.tolist()],
            "methods": results, "randomization": sanity}


def _check(model: VisionModel, cfg: EvaluateConfig, count: int) -> EvaluateConfig:
    """Clear errors before any work: methods, layer, options, counts."""
    if count < 1:
        raise DeepscopeError(f"--num-images must be at least 1, got {count}")
    if cfg.steps < 1:
        raise DeepscopeError(f"--steps must be at least 1, got {cfg.steps}")
    if not cfg.percentages or any(not 0 < p < 100 for p in cfg.percentages):
        raise DeepscopeError(f"--percentages must lie strictly between 0 and 100, got {list(cfg.percentages)}")
    if not cfg.methods:
        raise DeepscopeError("give at least one saliency method (--method)")
    methods = tuple(get_method(m).name for m in cfg.methods)
    if cfg.layer is not None or any(get_method(m).uses_layer for m in methods):
        cam_layer(model, cfg.layer)
    return replace(cfg, methods=methods, options=check_options(cfg.options))


def evaluate_folder(model: VisionModel, images: str | os.PathLike, out: str | os.PathLike,
                    cfg: EvaluateConfig | None = None, *, count: int = DEFAULT_IMAGES, size: int | None = None,
                    progress: bool = True) -> dict:
    """`evaluate` on `count` images spread over the folder `images`, resumably, in `out`.

    Writes `evaluate.json` (returned), `evaluate.md` and `evaluate.csv` (the table), `evaluate.png`
    (every method's curves), `<method>.png` per method, and with the randomization checks `cascade.png` and `class_sensitivity.png`.
    """
    cfg = _check(model, cfg or EvaluateConfig(), count)
    size = input_size(model, size, cfg.batch)
    out = prepare_output_dir(out)
    batch, files, skipped = load_images(images, size, count, spread=True,
                                        warn=lambda msg: print(msg, file=sys.stderr))
    settings = {"model": model.key, "files": file_listing(files), "size": size, **asdict(cfg)}
    job = Job(out, "evaluate", settings)
    say = (lambda msg: print(f"[evaluate] {msg}", flush=True)) if progress else (lambda _m: None)
    report = evaluate(model, batch, cfg, job=job, say=say)
    report = {"model": model.name, "images": len(files), "size": size, "files": [str(f) for f in files],
              "skipped": skipped, "settings": {k: v for k, v in asdict(cfg).items()}, **report}
    if not (job.done("outputs") and all((out / name).is_file() for name in output_files(report))):
        _write_outputs(report, out)
        job.finish("outputs")
    return report


def _write_outputs(report: dict, out: Path) -> None:
    from deepscope.attribution.faithfulness import plot, table  # matplotlib only when writing pictures

    write_json(out / "evaluate.json", report)
    table.write_tables(report, out)
    plot.plot_methods(report, out)


def output_files(report: dict) -> list[str]:
    """The files `evaluate_folder` writes for `report`, for the command's closing line."""
    names = ["evaluate.json", "evaluate.md", "evaluate.csv", "evaluate.png"] + [f"{m}.png" for m in report["methods"]]
    return names + (["cascade.png", "class_sensitivity.png"] if report.get("randomization") else [])
