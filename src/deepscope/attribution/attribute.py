"""One entry point: `attribute(model, images, "guided-backprop", target="tabby")`."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from deepscope.attribution.cam_layer import cam_layer
from deepscope.attribution.maps import to_map
from deepscope.attribution.methods import Method, get_method, method_options
from deepscope.attribution.targets import objective_layer, target_forward
from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import VisionModel
from deepscope.render.objectives import Objective


@dataclass
class Attribution:
    method: str
    raw: torch.Tensor  # (B, C, H, W) as captum returns it (C = 1 for Grad-CAM), detached
    targets: torch.Tensor | None  # (B,) class indices the maps explain; None for an objective
    layer: str | None = None  # Grad-CAM's layer, when the method uses one
    objective: Objective | None = None  # the objective the maps explain, when one was given

    def map(self, mode: str = "abs") -> torch.Tensor:
        """(B, H, W) map: `abs` sums |attribution| over colour channels, `signed` sums it."""
        return to_map(self.raw, mode)

    def _repr_png_(self) -> bytes:  # Jupyter: the maps as heat maps
        from deepscope.viz.notebook import heatmaps_png

        return heatmaps_png(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"Attribution ({self.method}): {tuple(self.raw.shape)}")


def attribute(model: VisionModel, images: torch.Tensor, method: str, target=None, *,
              layer: str | None = None, **options) -> Attribution:
    """Attribution maps of `images` (B, 3, H, W) in [0, 1] for `target` by `method`.

    `target`: None (each image's top-1 class), a class index or name for all images, one per
    image, or a render objective (`channel("blocks.4", 3)`, `neuron(...)`): then the maps explain
    the objective's score. `layer` picks Grad-CAM's layer (default: the last conv-like layer; for
    an objective, the layer it reads). `options` tune a method (smoothgrad: samples, noise, seed;
    integrated-gradients: steps, baseline; occlusion: window, stride, baseline) and are ignored by
    the others.
    """
    spec = get_method(method)
    opts = method_options(spec, {**options, "layer": layer})
    objective = target if isinstance(target, Objective) else None
    if objective is not None and not spec.objectives:
        raise DeepscopeError(f"saliency method {spec.name!r} explains classes only, not an objective "
                             f"like {objective.name}: give a class or use another method")
    if spec.uses_layer:
        opts["layer"], opts["module"] = cam_layer(model, layer or objective_layer(target))
    images = images.to(model.device)
    forward, targets = target_forward(model, images, target)
    raw = _run(spec, forward, images.detach().clone().requires_grad_(True), targets, opts, objective)
    return Attribution(spec.name, raw.detach(), targets, opts.get("layer") if spec.uses_layer else None, objective)


def _run(spec: Method, forward, images, targets, opts, objective) -> torch.Tensor:
    try:
        return spec.run(forward, images, targets, opts)
    except RuntimeError as err:
        if objective is None or "not have been used in the graph" not in str(err):
            raise
        where = f"layer {opts['layer']!r}" if spec.uses_layer else "the input"
        raise DeepscopeError(f"{spec.name}: the objective {objective.name} does not depend on {where}"
                             + (" (a layer after the objective's: give an earlier layer)" if spec.uses_layer
                                else "")) from None
