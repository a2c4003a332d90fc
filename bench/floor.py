"""The floor: a bare forward + backward w.r.t. the input, truncated at the layer, weights frozen.

No parameterization, transforms, optimizer or hooks: what any renderer must at least pay per
step for the same batch at the same size.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepscope.models import VisionModel, activations
from deepscope.render.optimize import frozen


def truncated_net(model: VisionModel, layer: str) -> nn.Module:
    """timm EfficientNet up to `blocks.N` (inclusive) as a plain Sequential, normalization first."""
    net = model.net
    prefix, _, index = layer.partition(".")
    if prefix != "blocks" or not index.isdigit() or not hasattr(net, "conv_stem"):
        raise ValueError(f"the floor is built for timm EfficientNet `blocks.N` layers, not {layer!r}")

    class Normalize(nn.Module):
        def forward(self, x):
            return (x - model.mean) / model.std

    return nn.Sequential(Normalize(), net.conv_stem, net.bn1, *net.blocks[: int(index) + 1]).eval()


def check_truncation(model: VisionModel, layer: str, size: int) -> float:
    """Max abs difference between the truncated net and the model's captured layer output."""
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = truncated_net(model, layer)(x)
    return float((ours - activations(model, x, [layer])[layer]).abs().max())


def floor_step_fn(model: VisionModel, layer: str, channels: Sequence[int], size: int, seed: int = 0):
    """A function doing one forward+backward of the channel objective for len(channels) images.
    Call it inside `frozen(model)`."""
    head = truncated_net(model, layer)
    x = torch.rand(len(channels), 3, size, size, generator=torch.Generator().manual_seed(seed))
    x.requires_grad_(True)
    index = torch.tensor(list(channels))
    rows = torch.arange(len(channels))

    def step():
        x.grad = None
        acts = head(x)
        score = acts[rows, index].flatten(1).mean(1).sum()
        (-score).backward()

    return step


__all__ = ["check_truncation", "floor_step_fn", "frozen", "truncated_net"]
