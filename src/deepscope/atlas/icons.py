"""Icons: one feature visualization per cell, maximizing dot · cossim^p with the cell's direction
at the icon's centre (Carter et al. 2019), rendered by the project's engine many cells per batch."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from deepscope.models.layers import layer_shape
from deepscope.models.vision_model import VisionModel
from deepscope.render import direction_cossim, render
from deepscope.render.objectives import Objective
from deepscope.render.transforms import TRANSFORM_SETS


@dataclass
class IconSettings:
    """How icons are rendered; the defaults follow the paper (Adam 0.05, best of 2, p in 2..4).

    `size=None` picks the size from the layer: the paper's 80 px at stride <= 26, else three map
    cells (96 px at EfficientNet's stride-32 `blocks.5`), so that the centre position sees enough of
    the icon (at 64 px, `blocks.5` icons reach a median centre cosine of ~0.76, at 96 px ~0.87).
    """

    size: int | None = None
    steps: int = 512
    attempts: int = 2
    power: float = 4.0
    batch: int = 32  # cells optimized together in one batch
    lr: float = 0.05
    param: str = "fft"
    transforms: str = "icon"
    seed: int = 0
    polish: float = 0.25  # share of the last steps without transforms (aligns the exact centre position)
    redirect_steps: int | None = None  # redirected-ReLU steps; None: steps // 32, at most 16 (16 at 512)


class Polished:
    """The icon transforms for the first `limit` steps of a render, then none.

    `render` applies its transform once per step, so counting calls counts steps. Transforms make
    icons robust; the final untransformed steps let the centre activation settle on the direction
    (without them the centre cosine is 0.05-0.15 lower at a stride-32 layer, where the paper's
    jitter moves the image by a whole map cell).
    """

    def __init__(self, transforms: list, limit: int):
        self.transforms, self.limit, self.calls = transforms, limit, 0

    def __call__(self, images, generator):
        self.calls += 1
        if self.calls > self.limit:
            return images
        for transform in self.transforms:
            images = transform(images, generator)
        return images


def auto_icon_size(model: VisionModel, layer: str) -> int:
    """max(80, 3 x the layer's stride): 80 px for mid layers, 96 px for a stride-32 layer."""
    width = layer_shape(model, layer)[-1]
    stride = round(model.input_size / max(width, 1))
    return max(80, 3 * stride)


def resolved(settings: IconSettings | None, model: VisionModel, layer: str) -> IconSettings:
    """The settings with the automatic icon size filled in."""
    settings = settings or IconSettings()
    return settings if settings.size else replace(settings, size=auto_icon_size(model, layer))


def icon_objectives(layer: str, directions: np.ndarray, settings: IconSettings,
                    whitening: np.ndarray | None = None) -> list[Objective]:
    white = None if whitening is None else torch.as_tensor(whitening)
    return [direction_cossim(layer, torch.as_tensor(v), settings.power, whitening=white) for v in directions]


def render_icons(model: VisionModel, layer: str, directions: np.ndarray, settings: IconSettings | None = None,
                 whitening: np.ndarray | None = None, progress: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """((M, 3, s, s) icons in [0, 1], (M,) final objective scores) for (M, C) directions."""
    settings = resolved(settings, model, layer)
    objectives = icon_objectives(layer, directions, settings, whitening)
    images, scores = [], []
    # redirected steps cost ~1.6x a plain step; a cell direction is rarely dead, so few are needed
    redirect = settings.redirect_steps if settings.redirect_steps is not None else min(16, settings.steps // 32)
    bar = tqdm(total=len(objectives), desc="icons", unit="icon", disable=not progress)
    for n, start in enumerate(range(0, len(objectives), settings.batch)):
        transforms = Polished(TRANSFORM_SETS[settings.transforms](), round(settings.steps * (1 - settings.polish)))
        result = render(model, objectives[start:start + settings.batch], size=settings.size, steps=settings.steps,
                        param=settings.param, lr=settings.lr, transforms=[transforms],
                        attempts=settings.attempts, seed=settings.seed + n, progress=False,
                        redirect_steps=redirect)
        images.append(result.images)
        scores.append(result.scores.numpy())
        bar.update(len(result.images))
    bar.close()
    if not images:
        return torch.zeros(0, 3, settings.size, settings.size), np.zeros(0, np.float32)
    return torch.cat(images), np.concatenate(scores)
