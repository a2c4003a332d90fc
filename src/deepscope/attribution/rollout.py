"""Attention rollout (Abnar & Zuidema 2020): how much each patch flows into the class token through
every self-attention layer, the residual connection counted as an identity.

Per attention layer, A (B, heads, N, N) is averaged over heads, Â = A + I is renormalized over rows,
and the rollout is R = Â_L ... Â_1. The map is the class token's row of R over the patch tokens (the
mean row of all tokens when the model has no prefix token), on the patch grid, upsampled to the image.

The softmax attention is read where it enters each attention module's `attn_drop`, on timm's unfused
path (`models.attention.unfused_attention`) for the rollout's one forward pass.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from deepscope.errors import DeepscopeError
from deepscope.models.attention import unfused_attention

SUMMARY = "attention flow from the patches into the class token through every layer (Abnar & Zuidema)"


@contextlib.contextmanager
def recording_attention(net: nn.Module):
    """Within the block, every forward pass appends each attention module's (B, heads, N, N) softmax
    attention to the list it yields."""
    saved: list[torch.Tensor] = []
    with unfused_attention(net) as modules:
        handles = [m.attn_drop.register_forward_hook(lambda _m, _i, out: saved.append(out.detach())) for m in modules]
        try:
            yield saved
        finally:
            for handle in handles:
                handle.remove()


def rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """(B, N, N) product of the head-averaged attentions with the identity added, rows renormalized."""
    result = None
    for attention in attentions:
        mixed = attention.float().mean(1)
        mixed = mixed + torch.eye(mixed.shape[-1], device=mixed.device)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    return result


def _patch_grid(patches: int, height: int, width: int) -> tuple[int, int] | None:
    rows = max(1, round(math.sqrt(patches * height / width)))
    return (rows, patches // rows) if rows * (patches // rows) == patches else None


def _model_name(net: nn.Module) -> str:
    return repr(getattr(net, "name", type(net).__name__))


def _checked(net: nn.Module, attentions: list[torch.Tensor], batch: int) -> list[torch.Tensor]:
    """The square (B, heads, N, N) global attentions; a clear error for a model without any."""
    square = [a for a in attentions if a.dim() == 4 and a.shape[-1] == a.shape[-2]]
    if not square:
        raise DeepscopeError(f"attention rollout needs a model with self-attention blocks (a ViT, DeiT, DINOv2 or "
                             f"CLIP image tower); model {_model_name(net)} has none: use grad-cam (on any map or "
                             "token layer) or another saliency method")
    if any(a.shape[0] != batch or a.shape[-1] != square[0].shape[-1] for a in square):
        raise DeepscopeError(f"attention rollout needs global attention over one set of tokens; model "
                             f"{_model_name(net)} attends within windows or changes its token count (e.g. Swin): "
                             "use grad-cam on one of its stages instead")
    return square


def rollout_grid(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(B, h, w) rollout of the class token (or of every token) over the patch grid, for `images`."""
    with torch.no_grad(), recording_attention(net) as saved:
        net(images.detach())
    attentions = _checked(net, saved, images.shape[0])
    flow = rollout(attentions)
    tokens = flow.shape[-1]
    inner = getattr(net, "net", net)
    prefix = getattr(inner, "num_prefix_tokens", None)
    prefix = tokens - math.isqrt(tokens) ** 2 if prefix is None else int(prefix)
    grid = _patch_grid(tokens - prefix, *images.shape[-2:])
    if grid is None:
        raise DeepscopeError(f"attention rollout: {tokens - prefix} patch tokens do not form a grid for "
                             f"{images.shape[-2]}x{images.shape[-1]} images (model {_model_name(net)})")
    rows = flow[:, 0] if prefix else flow.mean(1)
    return rows[:, prefix:].reshape(-1, *grid)


def attention_rollout(forward, images: torch.Tensor, target, opts) -> torch.Tensor:
    """The saliency method: the rollout grid upsampled (bilinear) to (B, 1, H, W); the target plays no part."""
    if not isinstance(forward, nn.Module):
        raise DeepscopeError("attention rollout explains the model's attention, not an objective: give a class")
    grid = rollout_grid(forward, images)
    return F.interpolate(grid.unsqueeze(1), size=tuple(images.shape[-2:]), mode="bilinear", align_corners=False)
