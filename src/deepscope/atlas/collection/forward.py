"""One batch through the model: activations at sampled positions and, on request, their
attribution to every class, h · ∂logit_c/∂h at the position, for all classes in one pass.

The attribution uses forward-mode AD: at the layer, the output becomes a dual tensor whose
tangent is the activation itself masked to one position, so the logits' tangent is
Σ_ch h[ch,p] ∂logit_c/∂h[ch,p] for every class c at once (one JVP instead of 1000 gradients).
Positions are on the layer's canonical grid (`models.layout`): the one-hot mask is built there and
mapped back to the layer's own layout (channels-last maps, tokens with their prefix left out).
For k positions per image the layer output is repeated k times (each copy with its own tangent);
architectures where that breaks the rest of the network (a skip connection around the layer)
fall back to repeating the input images.
"""
from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwAD

from deepscope.models.attention import unfused_attention
from deepscope.models.capture import capture, first_tensor
from deepscope.models.layout import SPATIAL, LayerSpec, require_layout
from deepscope.models.vision_model import VisionModel


def _gather(grid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) canonical maps and (B, k, 2) positions -> (B·k, C) vectors."""
    b, k = pos.shape[:2]
    rows = torch.arange(b, device=grid.device).repeat_interleave(k)
    ys, xs = pos[..., 0].reshape(-1).long(), pos[..., 1].reshape(-1).long()
    return grid[rows, :, ys, xs]


@torch.no_grad()
def sample_activations(model: VisionModel, layer: str, images: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(B·k, C) activations at the positions; the forward stops at the layer."""
    with capture(model, [layer], truncate=True, detach=True, canonical=True) as cap:
        grid = cap(images)[layer]
    return _gather(grid.float(), pos.to(grid.device)).cpu()


def _one_hot_masks(spec: LayerSpec, pos: torch.Tensor, device) -> torch.Tensor:
    """(B·k, ...) masks in the layer's own layout, 1 at each row's position of the patch grid."""
    b, k = pos.shape[:2]
    masks = torch.zeros(b * k, 1, *spec.grid, device=device)
    rows = torch.arange(b * k, device=device)
    masks[rows, 0, pos[..., 0].reshape(-1).long(), pos[..., 1].reshape(-1).long()] = 1.0
    return spec.raw_view(masks)


@torch.no_grad()
def sample_with_attribution(model: VisionModel, layer: str, images: torch.Tensor, pos: torch.Tensor,
                            expand_at: str = "layer") -> tuple[torch.Tensor, torch.Tensor]:
    """((B·k, C) activations, (B·k, classes) attributions) at the positions (one forward pass).

    `expand_at="layer"` repeats the layer's output k times (cheap); `"input"` repeats the images.
    """
    k = pos.shape[1]
    module = model.module(layer)
    spec = require_layout(model, layer, *SPATIAL, method="atlas attribution", size=images.shape[-1])
    pos = pos.to(images.device)
    seen: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        maps = first_tensor(output)
        if expand_at == "layer":
            maps = maps.repeat_interleave(k, 0)
        seen["maps"] = maps.detach()
        dual = fwAD.make_dual(maps, maps * _one_hot_masks(spec, pos, maps.device))
        return dual if isinstance(output, torch.Tensor) else (dual, *output[1:])

    batch = images.repeat_interleave(k, 0) if expand_at == "input" and k > 1 else images
    handle = module.register_forward_hook(hook)
    try:
        with fwAD.dual_level(), unfused_attention(model.net):  # fused attention: no forward-mode AD
            logits = model(batch)
            attr = fwAD.unpack_dual(logits).tangent
    finally:
        handle.remove()
    if attr is None:
        raise RuntimeError(f"the logits do not depend on layer {layer!r}")
    grid = spec.grid_view(seen["maps"])
    rows = torch.arange(len(images) * k, device=grid.device)
    flat_pos = pos.reshape(-1, 2).long()
    acts = grid[rows, :, flat_pos[:, 0], flat_pos[:, 1]]
    return acts.float().cpu(), attr.float().cpu()


class Sampler:
    """Runs batches with attribution, choosing once how to expand k positions (see module doc)."""

    def __init__(self, model: VisionModel, layer: str, attribution: bool):
        self.model, self.layer, self.attribution = model, layer, attribution
        self.expand_at = "layer"

    def __call__(self, images: torch.Tensor, pos: torch.Tensor):
        images = images.to(self.model.device)
        if not self.attribution:
            return sample_activations(self.model, self.layer, images, pos), None
        if self.expand_at == "layer" and pos.shape[1] > 1:
            try:
                return sample_with_attribution(self.model, self.layer, images, pos, "layer")
            except RuntimeError:
                self.expand_at = "input"
        return sample_with_attribution(self.model, self.layer, images, pos, self.expand_at)
