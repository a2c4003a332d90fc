"""Sanity checks for saliency methods.

- Cascading randomization (Adebayo et al. 2018): re-initialize the model from the logits down and
  compare each method's maps with the trained model's (Spearman of |map| and of the signed map,
  SSIM, HOG), averaged over the images, stage by stage. A random mask scored the same way is the
  control (it should give |rho| ~ 0).
- Class sensitivity (Nie et al. 2018): the same comparison between the map for the top-1 class and
  the map for a random other class. Methods that do image recovery barely change.

Each method gets a verdict in words. The trained model is never modified (a deep copy is
randomized).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from deepscope.attribution.attribute import attribute
from deepscope.attribution.methods import DEFAULT_BATCH, get_method
from deepscope.attribution.randomize import cascade, randomization_stages
from deepscope.attribution.similarity import METRICS, compare
from deepscope.attribution.targets import class_name, random_other_classes, resolve_targets
from deepscope.models.vision_model import VisionModel

DEFAULT_METHODS = ("gradient", "gradient-x-input", "guided-backprop", "deconvnet", "grad-cam", "guided-grad-cam")
PASS_WORDS = "changes with the model's weights: passes"
FAIL_WORDS = "barely changes until the first layers are randomized: reconstructs the image"
SENSITIVE_WORDS = "changes with the target class: class-sensitive"
INSENSITIVE_WORDS = "barely changes with the target class: class-insensitive"


@dataclass
class SanityConfig:
    methods: Sequence[str] = DEFAULT_METHODS
    layer: str | None = None  # Grad-CAM layer (default: the last conv-like layer)
    seed: int = 0
    batch: int = DEFAULT_BATCH
    randomization_threshold: float = 0.5  # mean Spearman(|map|) below this = the map has changed
    class_threshold: float = 0.9  # mean Spearman(|map|) top-1 vs random class at or above = insensitive
    options: dict = field(default_factory=dict)  # method options (smoothgrad samples, ...)


class SanityReport(dict):
    """The JSON-able report of `run_sanity` (a plain dict) that Jupyter shows as its verdict table."""

    def _repr_html_(self) -> str:
        from deepscope.viz.notebook import sanity_html

        return sanity_html(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"SanityReport of {self.get('model')}: {', '.join(self.get('methods', {}))}")


def _maps(model, images, method, targets, cfg) -> tuple[np.ndarray, np.ndarray]:
    """(abs, signed) maps of every image, (N, H, W) float64 numpy, computed in batches."""
    abs_maps, signed = [], []
    for start in range(0, len(images), cfg.batch):
        a = attribute(model, images[start:start + cfg.batch], method, targets[start:start + cfg.batch],
                      layer=cfg.layer, **cfg.options)
        abs_maps.append(a.map("abs").cpu().double().numpy())
        signed.append(a.map("signed").cpu().double().numpy())
    return np.concatenate(abs_maps), np.concatenate(signed)


def _scores(ref: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> dict:
    """Per-image similarities and their means / standard deviations."""
    per_image = [compare(ref[0][i], ref[1][i], other[0][i], other[1][i]) for i in range(len(ref[0]))]
    summary = {}
    for metric in METRICS:
        values = np.array([s[metric] for s in per_image])
        summary[metric] = float(values.mean())
        summary[f"{metric}_std"] = float(values.std())
    summary["per_image"] = per_image
    return summary


def random_mask_control(ref: dict[str, tuple[np.ndarray, np.ndarray]], seed: int) -> dict:
    """Each trained map against a uniform random mask of the same size (expect |rho| ~ 0)."""
    rng = np.random.default_rng(seed)
    out = {}
    for method, (abs_maps, signed) in ref.items():
        noise = rng.uniform(-1.0, 1.0, size=signed.shape)
        out[method] = {k: v for k, v in _scores((abs_maps, signed), (np.abs(noise), noise)).items()
                       if k != "per_image"}
    pooled = {m: float(np.mean([out[k][m] for k in out])) for m in METRICS}
    worst = max(abs(out[k][m]) for k in out for m in ("spearman_abs", "spearman_signed"))
    return {"mean": pooled, "max_abs_spearman": worst, "methods": out}


def randomization_verdict(per_stage: list[dict], stages: list[str], threshold: float) -> dict:
    """passes when mean Spearman(|map|) drops below `threshold` within the top half of the cascade."""
    top = math.ceil(len(stages) / 2)
    values = [s["spearman_abs"] for s in per_stage]
    below = next((i for i, v in enumerate(values) if v < threshold), None)
    passes = below is not None and below < top
    if passes:
        words = f"{PASS_WORDS} (rank correlation {values[below]:.2f} once {stages[below]} is randomized)"
    else:
        words = (f"{FAIL_WORDS} (rank correlation still {values[top - 1]:.2f} with the top {top} stages "
                 f"randomized, down to {stages[top - 1]})")
    return {"passes": passes, "first_stage_below_threshold": stages[below] if below is not None else None,
            "top_stages": stages[:top], "verdict": words}


def run_sanity(model: VisionModel, images: torch.Tensor, cfg: SanityConfig | None = None,
               progress: Callable[[str], None] | None = None) -> SanityReport:
    """Both sanity checks for every method of `cfg` on `images` (N, 3, H, W) in [0, 1]; a JSON-able report."""
    cfg = cfg or SanityConfig()
    methods = [get_method(m).name for m in cfg.methods]
    say = progress or (lambda _msg: None)
    cam_layer_name = _cam_layer_name(model, cfg, methods)  # fails fast on an unknown layer
    images = images.to(model.device)
    targets = resolve_targets(model, images)
    gen = torch.Generator().manual_seed(cfg.seed)
    others = random_other_classes(len(model.classes) if model.classes else int(model(images[:1]).shape[1]),
                                  targets.tolist(), gen).to(images.device)

    say("maps of the trained model")
    ref = {m: _maps(model, images, m, targets, cfg) for m in methods}
    say("class sensitivity")
    class_scores = {m: _scores(ref[m], _maps(model, images, m, others, cfg)) for m in methods}

    stages = []
    per_stage = {m: [] for m in methods}
    for stage, randomized in cascade(model, seed=cfg.seed):
        say(f"randomized down to {stage.name}")
        stages.append(stage.name)
        for m in methods:
            per_stage[m].append(_scores(ref[m], _maps(randomized, images, m, targets, cfg)))

    report_methods = {m: _method_entry(class_scores[m], per_stage[m], stages, cfg) for m in methods}
    return SanityReport({
        "model": model.name,
        "images": len(images),
        "size": list(images.shape[2:]),
        "seed": cfg.seed,
        "cam_layer": cam_layer_name,
        "stages_bottom_up": [s.name for s in randomization_stages(model)],
        "cascade_order": stages,
        "targets": [{"index": int(t), "name": class_name(model, int(t))} for t in targets.tolist()],
        "random_classes": [{"index": int(t), "name": class_name(model, int(t))} for t in others.tolist()],
        "thresholds": {"randomization_spearman_abs": cfg.randomization_threshold,
                       "class_insensitive_spearman_abs": cfg.class_threshold},
        "random_mask_control": random_mask_control(ref, cfg.seed),
        "methods": report_methods,
        "notes": ("Similarity of maps of the trained model vs the same model with its stages randomized "
                  "cumulatively from the logits down (Adebayo et al. 2018). Maps: abs = sum over colour "
                  "channels of |attribution|, signed = sum over channels. SSIM and HOG compare |maps| scaled "
                  "to [0,1] by their 99th percentile. Randomization re-draws each weight tensor from a Gaussian "
                  "with the trained tensor's mean and std; BatchNorm running statistics are kept."),
    })


def _method_entry(cls: dict, per_stage: list[dict], stages: list[str], cfg: SanityConfig) -> dict:
    """One method's part of the report: both verdicts and the similarity per randomized stage."""
    insensitive = cls["spearman_abs"] >= cfg.class_threshold
    return {
        "randomization": randomization_verdict(per_stage, stages, cfg.randomization_threshold),
        "class_sensitivity": {
            "class_insensitive": bool(insensitive),
            "verdict": (f"{INSENSITIVE_WORDS if insensitive else SENSITIVE_WORDS} "
                        f"(rank correlation {cls['spearman_abs']:.2f} between top-1 and random-class maps)"),
            **{k: v for k, v in cls.items() if k != "per_image"},
        },
        "cascade": [{"stage": s, **{k: v for k, v in sc.items() if k != "per_image"}}
                    for s, sc in zip(stages, per_stage)],
    }


def _cam_layer_name(model, cfg, methods) -> str | None:
    if not any(get_method(m).uses_layer for m in methods):
        return None
    from deepscope.attribution.cam_layer import cam_layer

    return cam_layer(model, cfg.layer)[0]
