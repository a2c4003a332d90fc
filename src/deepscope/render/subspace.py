"""Feature visualization restricted to a set of directions at one layer.

Inside `restrict_gradient(model, layer, basis)`, the gradient that reaches `layer`'s output is
projected onto the span of `basis` (k directions of the layer's channel space) before it flows
further back. A render of, say, logit(B) − logit(A) then changes the image only along those
directions at that layer: a class visualization built from chosen features (e.g. the cells of an
atlas two-class comparison that support B) instead of from everything the network could use.
The channel axis is the layer's own (`models.layout`): maps, channels-last maps, tokens and vectors.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from deepscope.errors import DeepscopeError
from deepscope.models.layout import layer_spec


def projector(basis: torch.Tensor) -> torch.Tensor:
    """(C, C) orthogonal projector onto the span of the rows of `basis` (k, C)."""
    basis = torch.as_tensor(basis, dtype=torch.float32)
    if basis.dim() != 2 or not len(basis):
        raise DeepscopeError(f"a subspace needs a (k, channels) basis, got shape {tuple(basis.shape)}")
    q, r = torch.linalg.qr(basis.T)
    keep = r.diagonal().abs() > 1e-6 * r.diagonal().abs().max().clamp_min(1e-12)
    q = q[:, keep]
    return q @ q.T


def _project(grad: torch.Tensor, matrix: torch.Tensor, channel_axis: int = 1) -> torch.Tensor:
    """Project over the channel axis of a gradient (dim 1 of (B, C, ...), or the last axis of a
    channels-last map or tokens), keeping its memory layout."""
    matrix = matrix.to(grad.device, grad.dtype)
    if channel_axis != 1:
        return grad @ matrix
    out = torch.einsum("bc...,cd->bd...", grad, matrix)
    if grad.dim() == 4 and grad.is_contiguous(memory_format=torch.channels_last):
        out = out.contiguous(memory_format=torch.channels_last)
    return out


@contextmanager
def restrict_gradient(model, layer: str, basis: torch.Tensor) -> Iterator[torch.Tensor]:
    """Within the block, gradients through `layer` keep only their component in span(basis)."""
    module = model.module(layer)
    matrix = projector(basis)
    spec = layer_spec(model, layer)
    if spec.channels != matrix.shape[0]:
        raise DeepscopeError(f"the basis has {matrix.shape[0]} channels but {layer!r} has {spec.channels} "
                             f"({spec.describe()})")

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(lambda grad: _project(grad, matrix, spec.channel_axis))
        return output

    handle = module.register_forward_hook(hook)
    try:
        yield matrix
    finally:
        handle.remove()
