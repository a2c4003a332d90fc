"""One entry point: `attribute(model, images, "guided-backprop", target="tabby")`."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from deepscope.attribution.cam_layer import cam_layer
from deepscope.attribution.maps import to_map
from deepscope.attribution.methods import get_method, method_options
from deepscope.attribution.targets import resolve_targets
from deepscope.models.vision_model import VisionModel


@dataclass
class Attribution:
    method: str
    raw: torch.Tensor  # (B, C, H, W) as captum returns it (C = 1 for Grad-CAM), detached
    targets: torch.Tensor  # (B,) class indices the maps explain
    layer: str | None = None  # Grad-CAM's layer, when the method uses one

    def map(self, mode: str = "abs") -> torch.Tensor:
        """(B, H, W) map: `abs` sums |attribution| over colour channels, `signed` sums it."""
        return to_map(self.raw, mode)


def attribute(model: VisionModel, images: torch.Tensor, method: str, target=None, *,
              layer: str | None = None, **options) -> Attribution:
    """Attribution maps of `images` (B, 3, H, W) in [0, 1] for `target` by `method`.

    `target`: None (each image's top-1 class), a class index or name for all images, or one per
    image. `layer` picks Grad-CAM's layer (default: the last conv-like layer). `options` tune a
    method (smoothgrad: samples, noise, seed; integrated-gradients: steps, baseline; occlusion:
    window, stride, baseline) and are ignored by the others.
    """
    spec = get_method(method)
    opts = method_options(spec, {**options, "layer": layer})
    if spec.uses_layer:
        opts["layer"] = cam_layer(model, layer)[0]
    images = images.to(model.device)
    targets = resolve_targets(model, images, target)
    raw = spec.run(model, images.detach().clone().requires_grad_(True), targets, opts)
    return Attribution(spec.name, raw.detach(), targets, opts.get("layer") if spec.uses_layer else None)
