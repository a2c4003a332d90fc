"""Self-attention modules of a network (timm's `Attention` and kin) and their unfused path.

timm attention modules with `fused_attn` set compute the attention inside
`F.scaled_dot_product_attention`: no hook sees the softmax attention, and on the CPU it has no
forward-mode derivative. `unfused_attention(net)` switches every such module to timm's own unfused
path (the same outputs up to rounding; the softmax attention passes through the module's
`attn_drop`) and restores the flags afterwards.
"""
from __future__ import annotations

import contextlib

from torch import nn


def attention_modules(net: nn.Module) -> list[nn.Module]:
    """The self-attention modules with a `fused_attn` flag and an `attn_drop` module."""
    return [m for m in net.modules() if hasattr(m, "fused_attn") and isinstance(getattr(m, "attn_drop", None), nn.Module)]


@contextlib.contextmanager
def unfused_attention(net: nn.Module):
    """Within the block every attention module of `net` takes the unfused path; yields the modules."""
    modules = attention_modules(net)
    flags = [(m, m.fused_attn) for m in modules]
    try:
        for m in modules:
            m.fused_attn = False
        yield modules
    finally:
        for m, flag in flags:
            m.fused_attn = flag
