"""Deletion and insertion (Petsiuk et al. 2018, RISE): the target's probability as pixels are
removed (replaced by a baseline) or inserted (into a blurred copy), most relevant first, in steps;
the area under that curve. Lower deletion and higher insertion mean a more faithful map.

Every step of every image is one image of a batch: an image at step k shows its k * s most relevant
pixels from the end image and the rest from the start image (s pixels a step, ties broken by pixel
index), so a whole curve costs n + 1 images of forward passes and no Python loop over pixels.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_STEPS = 50
EVAL_BATCH = 8  # perturbed images per forward pass (on a CPU, larger batches run slower per image)
BLUR_SIZE, BLUR_SIGMA = 11, 5.0  # Petsiuk et al.'s insertion blur (klen 11, nsig 5)
Forward = Callable[[torch.Tensor], torch.Tensor]  # (N, C, H, W) images -> (N, classes) logits


@dataclass
class Curves:
    values: torch.Tensor  # (B, n + 1): the target's probability after 0, s, 2s, ... pixels
    auc: torch.Tensor  # (B,): trapezoidal area over the fraction of steps, in [0, 1]
    pixels_per_step: int


def pixel_ranks(maps: torch.Tensor, descending: bool = True) -> torch.Tensor:
    """(B, H*W): each pixel's place in the order of `maps` (B, H, W); 0 = most relevant when descending."""
    flat = maps.flatten(1)
    order = torch.argsort(flat, dim=1, descending=descending, stable=True)
    places = torch.arange(flat.shape[1], device=flat.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, places)


def step_size(pixels: int, steps: int) -> tuple[int, int]:
    """(pixels per step, number of steps) covering `pixels` in about `steps` steps."""
    per_step = math.ceil(pixels / max(1, min(steps, pixels)))
    return per_step, math.ceil(pixels / per_step)


def area(values: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area of curves (B, n + 1) sampled at 0, 1/n, ..., 1."""
    n = values.shape[1] - 1
    return (values.sum(1) - (values[:, 0] + values[:, -1]) / 2) / n


@torch.no_grad()
def target_probability(forward: Forward, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Softmax probability of each image's target class, (N,)."""
    return forward(images).softmax(1).gather(1, targets[:, None])[:, 0]


def perturbation_curve(forward: Forward, start: torch.Tensor, end: torch.Tensor, maps: torch.Tensor,
                       targets: torch.Tensor, steps: int = DEFAULT_STEPS, batch: int = EVAL_BATCH) -> Curves:
    """The target's probability as the pixels of `end` replace those of `start`, most relevant first."""
    count, _, height, width = start.shape
    ranks = pixel_ranks(maps.to(start.device))
    per_step, n = step_size(height * width, steps)
    pairs = [(i, k) for i in range(count) for k in range(n + 1)]
    probabilities = []
    for at in range(0, len(pairs), batch):
        image, step = (torch.tensor(v, device=start.device) for v in zip(*pairs[at:at + batch]))
        shown = (ranks[image] < (step * per_step)[:, None]).view(-1, 1, height, width)
        probabilities.append(target_probability(forward, torch.where(shown, end[image], start[image]),
                                                targets[image]))
    values = torch.cat(probabilities).view(count, n + 1).cpu().double()
    return Curves(values, area(values), per_step)


def deletion(forward: Forward, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor, *,
             steps: int = DEFAULT_STEPS, baseline: float = 0.0, batch: int = EVAL_BATCH) -> Curves:
    """Deletion: pixels set to `baseline` (0: black), most relevant first; lower area = more faithful."""
    return perturbation_curve(forward, images, torch.full_like(images, baseline), maps, targets, steps, batch)


@lru_cache(maxsize=4)
def _blur_kernel(size: int, sigma: float) -> torch.Tensor:
    """Petsiuk et al.'s kernel: a centred impulse blurred by scipy's `gaussian_filter` (reflected tails)."""
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0
    return torch.from_numpy(gaussian_filter(impulse, sigma)).float()


def blur(images: torch.Tensor, size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Each channel blurred by the insertion kernel, zero padding (as in the RISE reference)."""
    channels = images.shape[1]
    kernel = _blur_kernel(size, sigma).to(images)[None, None].expand(channels, 1, size, size)
    return F.conv2d(images, kernel, padding=size // 2, groups=channels)


def insertion(forward: Forward, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor, *,
              steps: int = DEFAULT_STEPS, batch: int = EVAL_BATCH) -> Curves:
    """Insertion: pixels of the image put into its blurred copy, most relevant first; higher = more faithful."""
    return perturbation_curve(forward, blur(images), images, maps, targets, steps, batch)
