"""From raw attributions to 2-D maps, and maps to display values."""
from __future__ import annotations

import torch

MODES = ("abs", "signed", "positive")


def to_map(raw: torch.Tensor, mode: str = "abs") -> torch.Tensor:
    """(B, H, W): `abs` = sum over channels of |a|, `signed` = sum of a, `positive` = relu(sum of a)."""
    if mode not in MODES:
        raise ValueError(f"unknown map mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "abs":
        return raw.abs().sum(1)
    summed = raw.sum(1)
    return summed.clamp(min=0) if mode == "positive" else summed


def _robust_scale(magnitude: torch.Tensor, percentile: float) -> torch.Tensor:
    flat = magnitude.flatten().float()
    scale = torch.quantile(flat, percentile / 100.0) if flat.numel() > 1 else flat.max()
    if not torch.isfinite(scale) or scale <= 0:
        scale = flat.max().clamp(min=1e-12)
    return scale


def normalize_abs(values: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """A non-negative map scaled to [0, 1] by its `percentile` (robust to a few huge pixels)."""
    return (values / _robust_scale(values, percentile)).clamp(0, 1)


def normalize_signed(values: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """A signed map scaled to [-1, 1] by the `percentile` of its magnitude."""
    return (values / _robust_scale(values.abs(), percentile)).clamp(-1, 1)
