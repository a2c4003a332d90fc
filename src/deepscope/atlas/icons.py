"""Icons: one feature visualization per cell, maximizing dot · cossim^p with the cell's direction
at the icon's centre (Carter et al. 2019), rendered by the project's engine many cells per batch."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from deepscope.models.layers import layer_shape
from deepscope.models.vision_model import VisionModel
from deepscope.render import direction_cossim
from deepscope.render.driver import RenderGroup, render_batches
from deepscope.render.objectives import Objective
from deepscope.render.transforms import TRANSFORM_SETS, until


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
    token: int | None = None  # None: the centre position; j: prefix token j (0: the class token)


def auto_icon_size(model: VisionModel, layer: str) -> int:
    """max(80, 3 x the layer's stride): 80 px for mid layers, 96 px for a stride-32 layer."""
    width = layer_shape(model, layer)[-1]
    stride = round(model.input_size / max(width, 1))
    return max(80, 3 * stride)


def resolved(settings: IconSettings | None, model: VisionModel, layer: str, meta: dict | None = None) -> IconSettings:
    """The settings with the automatic icon size filled in, and the class token for a store of class
    tokens (`meta`: the store's)."""
    settings = settings or IconSettings()
    if not settings.size:
        settings = replace(settings, size=auto_icon_size(model, layer))
    if (meta or {}).get("tokens") == "class" and settings.token is None:
        settings = replace(settings, token=0)
    return settings


def icon_objectives(layer: str, directions: np.ndarray, settings: IconSettings,
                    whitening: np.ndarray | None = None) -> list[Objective]:
    white = None if whitening is None else torch.as_tensor(whitening)
    return [direction_cossim(layer, torch.as_tensor(v), settings.power, whitening=white, token=settings.token)
            for v in directions]


def polished_transforms(settings: IconSettings) -> list:
    """The icon transform set for all but the last `polish` share of the steps, then none.

    Transforms make icons robust; the final untransformed steps let the centre activation settle on
    the direction (without them the centre cosine is 0.05-0.15 lower at a stride-32 layer, where the
    paper's jitter moves the image by a whole map cell).
    """
    return [until(round(settings.steps * (1 - settings.polish)), TRANSFORM_SETS[settings.transforms]())]


def icon_group(objectives: list[Objective], settings: IconSettings) -> RenderGroup:
    """The icons' objectives with their `render()` options."""
    # redirected steps cost ~1.6x a plain step; a cell direction is rarely dead, so few are needed
    redirect = settings.redirect_steps if settings.redirect_steps is not None else min(16, settings.steps // 32)
    return RenderGroup("icons", objectives, {
        "size": settings.size, "steps": settings.steps, "param": settings.param, "lr": settings.lr,
        "transforms": polished_transforms(settings), "attempts": settings.attempts, "redirect_steps": redirect,
        "progress": False})


def render_icons(model: VisionModel, layer: str, directions: np.ndarray, settings: IconSettings | None = None,
                 whitening: np.ndarray | None = None, progress: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """((M, 3, s, s) icons in [0, 1], (M,) final objective scores) for (M, C) directions,
    `settings.batch` cells per batch (batch i seeded `settings.seed + i`)."""
    settings = resolved(settings, model, layer)
    group = icon_group(icon_objectives(layer, directions, settings, whitening), settings)
    images, scores = [], []
    bar = tqdm(total=len(group.objectives), desc="icons", unit="icon", disable=not progress)
    for _, result in render_batches(model, [group], batch=settings.batch, seed=settings.seed, progress=False):
        images.append(result.images)
        scores.append(result.scores.numpy())
        bar.update(len(result.images))
    bar.close()
    if not images:
        return torch.zeros(0, 3, settings.size, settings.size), np.zeros(0, np.float32)
    return torch.cat(images), np.concatenate(scores)
