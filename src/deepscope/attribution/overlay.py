"""Saliency maps as pictures: a heat map laid over the image."""
from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps

from deepscope.attribution.maps import normalize_abs


def heatmap(values: torch.Tensor, cmap: str = "inferno") -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] for a non-negative (H, W) map, scaled by its 99th percentile."""
    scaled = normalize_abs(values.detach().float().cpu()).numpy()
    rgb = colormaps[cmap](scaled)[..., :3].astype(np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1)


def overlay(image: torch.Tensor, values: torch.Tensor, cmap: str = "inferno", alpha: float = 0.6) -> torch.Tensor:
    """The image (3, H, W) in [0, 1], dimmed to grey, under the heat map of `values` (H, W)."""
    grey = image.detach().float().cpu().mean(0, keepdim=True).expand(3, -1, -1)
    heat = heatmap(values, cmap)
    weight = alpha * normalize_abs(values.detach().float().cpu()).sqrt()[None]
    return (grey * 0.7 * (1 - weight) + heat * weight).clamp(0, 1)
