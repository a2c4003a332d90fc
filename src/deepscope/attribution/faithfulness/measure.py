"""One metric of one method's maps on a batch of images, as a JSON-able record (per image values,
their mean and standard deviation, mean curves). The runner and the site call these."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from deepscope.attribution.faithfulness.curves import DEFAULT_STEPS, EVAL_BATCH, Curves, deletion, insertion
from deepscope.attribution.faithfulness.random_logit import random_logit, random_logit_classes
from deepscope.attribution.faithfulness.road import DEFAULT_NOISE, ORDERS, PERCENTAGES, road
from deepscope.attribution.faithfulness.sparseness import sparseness
from deepscope.attribution.methods import DEFAULT_BATCH
from deepscope.errors import unknown_name_error
from deepscope.models.vision_model import require_finite

FAITHFULNESS = ("deletion", "insertion", "road", "random-logit", "sparseness")
RANDOMIZATION = "randomization"  # the sanity checks of `deepscope sanity`, run as they are
METRICS = FAITHFULNESS + (RANDOMIZATION,)
CONTROL = "random-map"  # uniform random maps, scored like a method: the reference row


@dataclass
class EvaluateConfig:
    methods: tuple[str, ...] = ("gradient", "guided-backprop", "grad-cam")
    metrics: tuple[str, ...] = METRICS
    steps: int = DEFAULT_STEPS  # deletion / insertion steps
    percentages: tuple[int, ...] = PERCENTAGES  # ROAD
    noise: float = DEFAULT_NOISE  # ROAD's imputation noise
    seed: int = 0  # ROAD noise, random maps, random classes (Random Logit draws Quantus's way)
    batch: int = DEFAULT_BATCH  # images per attribution batch
    eval_batch: int = EVAL_BATCH  # perturbed images per forward pass
    layer: str | None = None  # Grad-CAM layer
    options: dict = field(default_factory=dict)  # method options (smoothgrad samples, ...)
    control: bool = True  # score random maps too


def parse_metrics(text: str) -> tuple[str, ...]:
    """'all' or comma-separated metric names, in the order given; unknown names name the close ones."""
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if names == ["all"]:
        return METRICS
    for name in names:
        if name not in METRICS:
            raise unknown_name_error("metric", name, list(METRICS), "or 'all'")
    return tuple(dict.fromkeys(names))


def _stats(values: torch.Tensor) -> dict:
    values = require_finite(values.double(), "the faithfulness scores")
    return {"mean": float(values.mean()), "std": float(values.std(unbiased=False)),
            "per_image": [float(v) for v in values]}


def _curves_record(curves: Curves) -> dict:
    return {**_stats(curves.auc), "pixels_per_step": curves.pixels_per_step,
            "curve_mean": curves.values.mean(0).tolist(), "curve_std": curves.values.std(0, unbiased=False).tolist()}


def _road_record(model, images, maps, targets, cfg: EvaluateConfig) -> dict:
    record = {"percentages": list(cfg.percentages), "noise": cfg.noise}
    for offset, order in enumerate(ORDERS):
        result = road(model, images, maps, targets, percentages=cfg.percentages, order=order, noise=cfg.noise,
                      seed=cfg.seed + offset, batch=cfg.eval_batch)
        record[order] = {**_stats(result.correct.double().mean(1)), "accuracy": result.accuracy.tolist(),
                         "probability": result.probability.mean(0).tolist()}
    return record


def measure(metric: str, model, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
            other_maps: Callable[[torch.Tensor], torch.Tensor], cfg: EvaluateConfig) -> dict:
    """The record of `metric` for `maps` (N, H, W) of `images` explaining `targets`.
    `other_maps(classes)` gives the maps of the same images for other classes (Random Logit)."""
    if metric == "deletion":
        return _curves_record(deletion(model, images, maps, targets, steps=cfg.steps, batch=cfg.eval_batch))
    if metric == "insertion":
        return _curves_record(insertion(model, images, maps, targets, steps=cfg.steps, batch=cfg.eval_batch))
    if metric == "road":
        return _road_record(model, images, maps, targets, cfg)
    if metric == "sparseness":
        return _stats(sparseness(maps))
    if metric == "random-logit":
        with torch.no_grad():
            classes = int(model(images[:1]).shape[1])
        others = random_logit_classes(targets, classes, cfg.seed)
        return {**_stats(random_logit(maps, other_maps(others.to(targets.device)))), "classes": others.tolist()}
    raise ValueError(f"unknown faithfulness metric {metric!r}")
