"""ROAD (Rong et al. 2022): remove the most (MoRF) or least (LeRF) relevant fraction of the pixels,
fill them by noisy linear imputation (so that the shape of the removed region does not leak the
class, as a constant would), and ask whether the model still predicts the target. Low MoRF and high
LeRF accuracy mean a more faithful map.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from deepscope.attribution.faithfulness.curves import EVAL_BATCH, Forward, pixel_ranks
from deepscope.attribution.faithfulness.imputation import noisy_linear_imputation

PERCENTAGES = (10, 20, 30, 40, 50, 60, 70, 80, 90)  # Rong et al.'s fractions removed
DEFAULT_NOISE = 0.01
ORDERS = ("morf", "lerf")


@dataclass
class RoadCurves:
    order: str  # "morf" or "lerf"
    percentages: tuple[int, ...]
    correct: torch.Tensor  # (B, P) bool: the prediction is still the target
    probability: torch.Tensor  # (B, P): the target's softmax probability

    @property
    def accuracy(self) -> torch.Tensor:
        """(P,) fraction of the images still predicted as their target, per percentage."""
        return self.correct.double().mean(0)


def removed_masks(maps: torch.Tensor, percentages, order: str = "morf") -> torch.Tensor:
    """(B, P, H, W) bool: the int(H*W*p/100) most (morf) or least (lerf) relevant pixels for each p."""
    if order not in ORDERS:
        raise ValueError(f"unknown ROAD order {order!r}; choose morf or lerf")
    count, height, width = maps.shape
    ranks = pixel_ranks(maps, descending=order == "morf")
    sizes = torch.tensor([int(height * width * p / 100) for p in percentages], device=maps.device)
    return (ranks[:, None, :] < sizes[None, :, None]).view(count, len(sizes), height, width)


@torch.no_grad()
def road(forward: Forward, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor, *,
         percentages=PERCENTAGES, order: str = "morf", noise: float = DEFAULT_NOISE, seed: int = 0,
         batch: int = EVAL_BATCH) -> RoadCurves:
    """ROAD for `images` (B, C, H, W) explained by `maps` (B, H, W) for `targets` (B,)."""
    percentages = tuple(int(p) for p in percentages)
    masks = removed_masks(maps.to(images.device), percentages, order)
    count, steps = masks.shape[:2]
    generator = torch.Generator().manual_seed(seed)
    image_of = torch.arange(count, device=images.device).repeat_interleave(steps)
    flat_masks = masks.flatten(0, 1)
    logits = []
    for at in range(0, len(image_of), batch):
        which = image_of[at:at + batch]
        perturbed = noisy_linear_imputation(images[which], flat_masks[at:at + batch], noise, generator)
        logits.append(forward(perturbed).float())
    logits = torch.cat(logits)
    wanted = targets.repeat_interleave(steps)
    correct = (logits.argmax(1) == wanted).view(count, steps).cpu()
    probability = logits.softmax(1).gather(1, wanted[:, None]).view(count, steps).cpu().double()
    return RoadCurves(order, percentages, correct, probability)
