"""Image penalties as ordinary objectives reading `"input"`, the images the model sees (Lucid's
`T("input")` penalties). Each scores how much of something an image has, one value per image;
subtract it with a weight to have less of it:

    channel("blocks.4", 3) - 1e-3 * total_variation()

`layer=` points a penalty at a layer's activations instead (a spatial map, read as (B, C, H, W)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import INPUT
from deepscope.render.objectives import Objective, custom


def _maps(acts: dict, layer: str) -> torch.Tensor:
    value = acts[layer]
    if value.dim() != 4:
        raise DeepscopeError(f"image penalties need a spatial map, but {layer!r} gives {tuple(value.shape[1:])}: "
                             "use them on 'input' or a convolutional layer")
    return value


def total_variation(layer: str = INPUT) -> Objective:
    """Σ |x[i+1, j] − x[i, j]| + |x[i, j+1] − x[i, j]| over channels and pixels (per image),
    as TensorFlow's `total_variation`: high for noisy, high-frequency images."""
    def fn(acts):
        x = _maps(acts, layer)
        down = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).sum(1)
        right = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).sum(1)
        return down + right
    return custom([layer], fn, f"total_variation({layer})")


def l2(constant: float = 0.5, epsilon: float = 1e-6, layer: str = INPUT) -> Objective:
    """sqrt(ε + Σ (x − constant)²) per image: how far the image is from flat grey (`constant`)."""
    def fn(acts):
        x = _maps(acts, layer)
        return torch.sqrt(epsilon + (x - constant).pow(2).flatten(1).sum(1))
    return custom([layer], fn, f"l2({layer},{constant:g})")


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def blur(sigma: float = 1.0, layer: str = INPUT) -> Objective:
    """½ Σ (x − blurred(x))² per image, the blurred copy held fixed (no gradient through it):
    subtracting it pulls each step's image towards its Gaussian blur (`sigma` in pixels),
    Lucid's `blur_input_each_step`."""
    if sigma <= 0:
        raise DeepscopeError(f"blur needs a positive sigma, got {sigma}")
    kernel = _gaussian_kernel(sigma)

    def fn(acts):
        x = _maps(acts, layer)
        channels, radius = x.shape[1], len(kernel) // 2
        k = kernel.to(x.device, x.dtype)
        with torch.no_grad():
            padded = F.pad(x, (radius,) * 4, mode="replicate")
            smooth = F.conv2d(padded, k.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
            smooth = F.conv2d(smooth, k.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
        return 0.5 * (x - smooth).pow(2).flatten(1).sum(1)
    return custom([layer], fn, f"blur({layer},sigma={sigma:g})")


__all__ = ["blur", "l2", "total_variation"]
