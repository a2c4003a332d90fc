"""Feature visualization restricted to a set of directions at one layer.

Inside `restrict_gradient(model, layer, basis)`, the gradient that reaches `layer`'s output is
projected onto the span of `basis` (k directions of the layer's channel space) before it flows
further back. A render of, say, logit(B) − logit(A) then changes the image only along those
directions at that layer: a class visualization built from chosen features (e.g. the cells of an
atlas two-class comparison that support B) instead of from everything the network could use.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from deepscope.errors import DeepscopeError


def projector(basis: torch.Tensor) -> torch.Tensor:
    """(C, C) orthogonal projector onto the span of the rows of `basis` (k, C)."""
    basis = torch.as_tensor(basis, dtype=torch.float32)
    if basis.dim() != 2 or not len(basis):
        raise DeepscopeError(f"a subspace needs a (k, channels) basis, got shape {tuple(basis.shape)}")
    q, r = torch.linalg.qr(basis.T)
    keep = r.diagonal().abs() > 1e-6 * r.diagonal().abs().max().clamp_min(1e-12)
    q = q[:, keep]
    return q @ q.T


def _project(grad: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Project over the channel axis (dim 1) of a (B, C, ...) gradient, keeping its memory layout."""
    out = torch.einsum("bc...,cd->bd...", grad, matrix.to(grad.device, grad.dtype))
    if grad.dim() == 4 and grad.is_contiguous(memory_format=torch.channels_last):
        out = out.contiguous(memory_format=torch.channels_last)
    return out


@contextmanager
def restrict_gradient(model, layer: str, basis: torch.Tensor) -> Iterator[torch.Tensor]:
    """Within the block, gradients through `layer` keep only their component in span(basis)."""
    module = model.module(layer)
    matrix = projector(basis)

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            if output.shape[1] != matrix.shape[0]:
                raise DeepscopeError(f"the basis has {matrix.shape[0]} channels but {layer!r} has {output.shape[1]}")
            output.register_hook(lambda grad: _project(grad, matrix))
        return output

    handle = module.register_forward_hook(hook)
    try:
        yield matrix
    finally:
        handle.remove()
