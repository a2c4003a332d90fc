"""Pasting a square patch into a corner of images (Carter et al. 2019: width ratios 0.2/0.4/0.7)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

RATIOS = (0.2, 0.4, 0.7)
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


@dataclass(frozen=True)
class Placement:
    """Patch width as a fraction of the image width, and the corner it sits in."""

    ratio: float
    corner: str

    @property
    def name(self) -> str:
        return f"{self.ratio:g}@{self.corner}"


def placements(ratios: Sequence[float] = RATIOS, corners: Sequence[str] = CORNERS) -> list[Placement]:
    """Every (ratio, corner) combination, ratios outermost."""
    bad = [c for c in corners if c not in CORNERS]
    if bad or any(not 0 < r <= 1 for r in ratios):
        raise ValueError(f"corners must be among {CORNERS} and ratios in (0, 1]; got {list(corners)}, {list(ratios)}")
    return [Placement(float(r), c) for r in ratios for c in corners]


def resize_patch(patch: torch.Tensor, side: int) -> torch.Tensor:
    """(3, h, w) -> (3, side, side), antialiased."""
    if patch.shape[-2:] == (side, side):
        return patch
    return F.interpolate(patch[None].float(), size=(side, side), mode="bilinear", antialias=True,
                         align_corners=False)[0].clamp(0, 1)


PatchLike = torch.Tensor | Callable[[int], torch.Tensor]


def paste(images: torch.Tensor, patch: PatchLike, placement: Placement) -> torch.Tensor:
    """Copy of `images` (B, 3, H, W) with `patch` resized to ratio·W pixels square in the corner.

    `patch` is an image (3, h, w), or a function side -> (3, side, side) (e.g. `NoisePatch`).
    """
    _, _, h, w = images.shape
    side = max(1, min(h, w, round(placement.ratio * w)))
    made = patch(side) if callable(patch) else patch
    small = resize_patch(made.to(images.device, images.dtype), side)
    top = 0 if placement.corner.startswith("top") else h - side
    left = 0 if placement.corner.endswith("left") else w - side
    out = images.clone()
    out[:, :, top:top + side, left:left + side] = small
    return out


class NoisePatch:
    """The control: uniform random pixels drawn at the pasted size (no resampling blur), fixed by `seed`."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._cache: dict[int, torch.Tensor] = {}

    def __call__(self, side: int) -> torch.Tensor:
        if side not in self._cache:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + side)
            self._cache[side] = torch.rand(3, side, side, generator=generator)
        return self._cache[side]
