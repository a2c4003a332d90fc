"""Sparseness (Chalasani et al. 2020): the Gini index of |map|. 1 when one pixel holds all the
relevance, 0 for a uniform map; higher means a more concise explanation."""
from __future__ import annotations

import torch

OFFSET = 1e-7  # added to every value, as Quantus does (a zero map scores 0, not NaN)


def normalize_by_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map (B, ...) divided by its largest |value| (an all-zero map stays zero)."""
    flat = maps.flatten(1).double()
    peak = flat.abs().amax(1, keepdim=True)
    return torch.where(peak > 0, flat / peak.clamp(min=1e-300), flat).view(maps.shape)


def sparseness(maps: torch.Tensor) -> torch.Tensor:
    """(B,) Gini index of each |map| (maps (B, H, W) or any (B, ...)), scaled by its maximum first."""
    values = normalize_by_max(maps).abs().flatten(1) + OFFSET
    values = values.sort(1).values
    n = values.shape[1]
    rank = torch.arange(1, n + 1, dtype=values.dtype, device=values.device)
    return ((2 * rank - n - 1) * values).sum(1) / (n * values.sum(1))
