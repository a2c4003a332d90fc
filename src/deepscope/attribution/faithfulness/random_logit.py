"""Random Logit (Sixt et al. 2020): how similar a map for the target class is to the map of the
same image for a random other class, by SSIM. A map that explains the decision should change with
the class: lower is better. Maps are scaled by their largest |value| first.

`ssim` is scikit-image's `structural_similarity` with its defaults (a 7-pixel uniform window,
sample covariance, K1 = 0.01, K2 = 0.03, the data range of the two maps together, the mean over
positions where the window fits), batched in torch. `flat=True` compares the maps flattened to
vectors, as Quantus's `RandomLogit` does; the default compares them as images.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from deepscope.attribution.faithfulness.sparseness import normalize_by_max

DEFAULT_SEED = 42  # Quantus's
WINDOW = 7
K1, K2 = 0.01, 0.03


def random_logit_classes(targets: torch.Tensor | Sequence[int], num_classes: int,
                         seed: int = DEFAULT_SEED) -> torch.Tensor:
    """One random class per target, never the target; drawn as Quantus draws them (numpy's
    `RandomState(seed).randint(0, num_classes - 1)` indexing the other classes)."""
    targets = torch.as_tensor(targets).cpu().long()
    draws = torch.from_numpy(np.random.RandomState(seed).randint(0, num_classes - 1, len(targets))).long()
    return draws + (draws >= targets).long()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """(B,) SSIM of a[i] and b[i]: signals (B, L) or images (B, H, W)."""
    a, b = a.double(), b.double()
    pool = F.avg_pool1d if a.ndim == 2 else F.avg_pool2d

    def local_mean(v: torch.Tensor) -> torch.Tensor:
        return pool(v[:, None], window, stride=1)[:, 0]

    both = torch.cat([a.flatten(1), b.flatten(1)], 1)
    data_range = (both.amax(1) - both.amin(1)).view(-1, *[1] * (a.ndim - 1))
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    samples = window ** (a.ndim - 1)
    cov_norm = samples / (samples - 1)
    ux, uy = local_mean(a), local_mean(b)
    vx = cov_norm * (local_mean(a * a) - ux * ux)
    vy = cov_norm * (local_mean(b * b) - uy * uy)
    vxy = cov_norm * (local_mean(a * b) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    score = s.flatten(1).mean(1)
    return torch.where(data_range.flatten() > 0, score, torch.ones_like(score))  # two equal constant maps


def random_logit(maps: torch.Tensor, other_maps: torch.Tensor, *, flat: bool = False,
                 window: int = WINDOW) -> torch.Tensor:
    """(B,) SSIM between each target-class map and the random-class map (B, H, W), lower is better."""
    a, b = normalize_by_max(maps), normalize_by_max(other_maps)
    if flat:
        a, b = a.flatten(1), b.flatten(1)
    return ssim(a, b, window)
