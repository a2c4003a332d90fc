"""Objectives on a token layer (a ViT block, `blocks.N.mlp.act`): one token, the class token included.

`channel` and `neuron` already read a token layer through its canonical grid (the mean over patch
tokens, one patch token at a grid position; prefix tokens excluded). `token(layer, i)` targets token
`i` of the layer's own order: the prefix tokens (class, registers) first, then the patches row by row.
"""
from __future__ import annotations

import torch

from deepscope.errors import DeepscopeError
from deepscope.models.layout import prefix_key
from deepscope.render.objectives import Objective, custom


def _layout_words(prefix: int, grid: torch.Tensor) -> str:
    h, w = grid.shape[-2:]
    lead = f"{prefix} prefix + " if prefix else ""
    return f"tokens {prefix + h * w} = {lead}{h}x{w} patches, {grid.shape[1]} channels"


def token_vector(acts: dict, layer: str, index: int) -> torch.Tensor:
    """(B, C): token `index` of a token layer from the canonical activations (prefix tokens first)."""
    grid, prefix = acts[layer], acts.get(prefix_key(layer))
    if prefix is None:
        raise DeepscopeError(f"the token objective needs a layer with tokens on a patch grid; {layer!r} gives "
                             f"{'a vector' if grid.dim() == 2 else 'a feature map'} of shape {tuple(grid.shape[1:])}"
                             " (use channel() or neuron(); `deepscope layers` shows each layer's layout)")
    count, (h, w) = prefix.shape[1], grid.shape[-2:]
    if not 0 <= index < count + h * w:
        prefix_words = {0: "", 1: "; 0 is the prefix token"}.get(count, f"; 0..{count - 1} are the prefix tokens")
        raise DeepscopeError(f"token {index} is out of range: layer {layer!r} gives {_layout_words(count, grid)} "
                             f"(tokens 0..{count + h * w - 1}{prefix_words})")
    if index < count:
        return prefix[:, index]
    y, x = divmod(index - count, w)
    return grid[:, :, y, x]


def token(layer: str, index: int, channel: int | None = None) -> Objective:
    """Token `index` of a token layer (0 = the first prefix token, e.g. the class token; then the patch
    tokens row by row): its channel `channel`, or the mean of its squared activations when None."""
    def fn(acts):
        vector = token_vector(acts, layer, index)
        if channel is None:
            return vector.pow(2).mean(1)
        if not 0 <= channel < vector.shape[1]:
            raise DeepscopeError(f"channel {channel} is out of range: layer {layer!r} has {vector.shape[1]} "
                                 f"channels (0..{vector.shape[1] - 1})")
        return vector[:, channel]
    unit = "" if channel is None else f":{channel}"
    objective = custom([layer], fn, f"token({layer}#{index}{unit})")
    objective.meta = {"kind": "token", "layer": layer, "unit": channel, "token": index}
    return objective
