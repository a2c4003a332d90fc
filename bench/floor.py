"""The floor: a bare forward + backward w.r.t. the input, truncated at the layer, weights frozen.

For a timm EfficientNet (maps) and a timm VisionTransformer (tokens: the channel mean over the patch
tokens, as deepscope's `channel` reads them).

No parameterization, transforms, optimizer or hooks: what any renderer must at least pay per
step for the same batch at the same size.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepscope.models import VisionModel, activations
from deepscope.render.optimize import frozen


class _Normalize(nn.Module):
    def __init__(self, model: VisionModel):
        super().__init__()
        self.mean, self.std = model.mean, model.std  # the model's own tensors, not copies

    def forward(self, x):
        return (x - self.mean) / self.std


class _VitEmbed(nn.Module):
    """A timm VisionTransformer up to its blocks: patches, position embedding (class and register
    tokens added), patch dropout, pre-norm, as its `forward_features` runs them."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        net = self.net
        return net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(x))))


def truncated_net(model: VisionModel, layer: str) -> nn.Module:
    """The network up to `blocks.N` (inclusive) as a plain Sequential, normalization first: a timm
    EfficientNet (stem, blocks) or a timm VisionTransformer (embedding, blocks)."""
    net = model.net
    prefix, _, index = layer.partition(".")
    if prefix != "blocks" or not index.isdigit() or not (hasattr(net, "conv_stem") or hasattr(net, "_pos_embed")):
        raise ValueError(f"the floor is built for `blocks.N` layers of timm EfficientNets and ViTs, not {layer!r}")
    stem = [net.conv_stem, net.bn1] if hasattr(net, "conv_stem") else [_VitEmbed(net)]
    return nn.Sequential(_Normalize(model), *stem, *net.blocks[: int(index) + 1]).eval()


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
    prefix = getattr(model.net, "num_prefix_tokens", 0) if hasattr(model.net, "_pos_embed") else None

    def step():
        x.grad = None
        acts = head(x)
        if prefix is None:  # a map (B, C, H, W): channel mean over space
            score = acts[rows, index].flatten(1).mean(1).sum()
        else:  # tokens (B, N, C): channel mean over the patch tokens
            score = acts[rows, prefix:, index].mean(1).sum()
        (-score).backward()

    return step


__all__ = ["check_truncation", "floor_step_fn", "frozen", "truncated_net"]
