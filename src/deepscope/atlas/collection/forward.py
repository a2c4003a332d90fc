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

import warnings

import torch
import torch.autograd.forward_ad as fwAD

with warnings.catch_warnings():  # forward-mode AD loads these on first use; they warn about torch's own code
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit._script",
                            message="`torch.jit.script` is deprecated")
    try:
        from torch._decomp import decompositions_for_jvp  # noqa: F401
    except ImportError:  # a torch without it: nothing to load, nothing to silence
        pass

from deepscope.errors import DeepscopeError
from deepscope.models.attention import unfused_attention
from deepscope.models.capture import capture, first_tensor
from deepscope.models.device import autocast, to_device
from deepscope.models.layout import SPATIAL, LayerSpec, prefix_key, require_layout
from deepscope.models.vision_model import VisionModel


def _gather(grid: torch.Tensor, pos: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, h, w) canonical maps, (B, P, C) prefix tokens and (B, k, 2) positions -> (B·k, C) vectors.

    A position (y, x) is a cell of the grid; (-1, j) is prefix token j (the class token is (-1, 0)).
    """
    b, k = pos.shape[:2]
    rows = torch.arange(b, device=grid.device).repeat_interleave(k)
    ys, xs = pos[..., 0].reshape(-1).long(), pos[..., 1].reshape(-1).long()
    cells = grid[rows, :, ys.clamp(min=0), xs.clamp(max=grid.shape[-1] - 1)]
    if prefix is None or bool((ys >= 0).all()):
        return cells
    tokens = prefix[rows, xs.clamp(max=prefix.shape[1] - 1)]
    return torch.where((ys >= 0)[:, None], cells, tokens)


@torch.no_grad()
def sample_activations(model: VisionModel, layer: str, images: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(B·k, C) activations at the positions; the forward stops at the layer."""
    with capture(model, [layer], truncate=True, detach=True, canonical=True) as cap:
        acts = cap(images)
    grid, prefix = acts[layer], acts.get(prefix_key(layer))
    return _gather(grid.float(), pos.to(grid.device), None if prefix is None else prefix.float()).cpu()


def _one_hot_masks(spec: LayerSpec, pos: torch.Tensor, device) -> torch.Tensor:
    """(B·k, ...) masks in the layer's own layout, 1 at each row's position (grid cell or prefix token)."""
    flat = pos.reshape(-1, 2).long()
    rows = torch.arange(len(flat), device=device)
    on_grid = flat[:, 0] >= 0
    masks = torch.zeros(len(flat), 1, *spec.grid, device=device)
    masks[rows[on_grid], 0, flat[on_grid, 0], flat[on_grid, 1]] = 1.0
    if not spec.prefix:
        return spec.raw_view(masks)
    prefix = torch.zeros(len(flat), spec.prefix, 1, device=device)
    prefix[rows[~on_grid], flat[~on_grid, 1], 0] = 1.0
    return spec.raw_view(masks, prefix)


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
    maps = seen["maps"]  # B·k rows, row r at position r
    acts = _gather(spec.grid_view(maps), pos.reshape(-1, 1, 2), spec.prefix_tokens(maps) if spec.prefix else None)
    return acts.float().cpu(), attr.float().cpu()


class Sampler:
    """Runs batches with attribution, choosing once how to expand k positions (see module doc).

    `precision="bf16"` runs the activation pass under autocast (without attribution only: the
    forward-mode pass needs full precision)."""

    def __init__(self, model: VisionModel, layer: str, attribution: bool, precision: str | None = None):
        if precision and attribution:
            raise DeepscopeError("bf16 autocast applies to collection without attribution (the attribution pass "
                                 "needs float32): add --no-attribution or drop --autocast")
        autocast(model.device, precision)  # an unknown precision stops here
        self.model, self.layer, self.attribution, self.precision = model, layer, attribution, precision
        self.expand_at = "layer"

    def __call__(self, images: torch.Tensor, pos: torch.Tensor):
        images = to_device(images, self.model.device)
        if not self.attribution:
            with autocast(self.model.device, self.precision):
                return sample_activations(self.model, self.layer, images, pos), None
        if self.expand_at == "layer" and pos.shape[1] > 1:
            try:
                return sample_with_attribution(self.model, self.layer, images, pos, "layer")
            except RuntimeError:
                self.expand_at = "input"
        return sample_with_attribution(self.model, self.layer, images, pos, self.expand_at)
