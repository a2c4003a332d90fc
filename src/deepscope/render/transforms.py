"""Batched, differentiable random transforms (transformation robustness, Olah et al. 2017).

Each transform is a callable `(images, generator) -> images`; every image of the batch draws its
own random parameters, so rendering N objectives together equals rendering them one by one.
A step-aware transform (`StepTransform`, e.g. `until(steps, ...)`) is called with the optimization
step as well. Transform sets are registered by name (`register_transforms`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from deepscope.registry import Registry

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _choice(values: Sequence[float], n: int, generator: torch.Generator) -> torch.Tensor:
    idx = torch.randint(len(values), (n,), generator=generator)
    return torch.tensor(values, dtype=torch.float32)[idx]


def pad(width: int, value: float = 0.5) -> Transform:
    """Pad every side by `width` pixels of constant `value`."""
    def apply(images, _generator):
        return F.pad(images, (width,) * 4, mode="constant", value=value)
    return apply


def jitter(distance: int) -> Transform:
    """Random crop losing `distance` pixels per axis, at an offset drawn per image."""
    def apply(images, generator):
        b, _, h, w = images.shape
        oy = torch.randint(distance + 1, (b,), generator=generator).tolist()
        ox = torch.randint(distance + 1, (b,), generator=generator).tolist()
        if len(set(oy)) == 1 and len(set(ox)) == 1:
            return images[:, :, oy[0]:oy[0] + h - distance, ox[0]:ox[0] + w - distance]
        return torch.stack([images[i, :, y:y + h - distance, x:x + w - distance]
                            for i, (y, x) in enumerate(zip(oy, ox))])
    return apply


def scale_rotate(scales: Sequence[float] = (1.0,), degrees: Sequence[float] = (0.0,),
                 fill: float = 0.5) -> Transform:
    """Zoom by a factor from `scales` and rotate by an angle from `degrees` about the centre,
    drawn per image, keeping the size; uncovered pixels take `fill`."""
    def apply(images, generator):
        b = images.shape[0]
        scale = _choice(scales, b, generator)
        angle = _choice(degrees, b, generator) * (math.pi / 180)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1),
                             torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
        theta = theta.to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False) + fill
    return apply


def crop_to(size: int) -> Transform:
    """Centre crop to `size` x `size` (no-op when the images are not larger)."""
    def apply(images, _generator):
        h, w = images.shape[-2:]
        top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
        return images[:, :, top:top + size, left:left + size]
    return apply


def noise(sd: float) -> Transform:
    """Add Gaussian noise with standard deviation `sd`."""
    def apply(images, generator):
        return images + sd * torch.randn(images.shape, generator=generator).to(images.device, images.dtype)
    return apply


class StepTransform:
    """A transform that also sees the optimization step: `(images, generator, step) -> images`."""

    def __call__(self, images: torch.Tensor, generator: torch.Generator, step: int) -> torch.Tensor:
        raise NotImplementedError


class until(StepTransform):
    """`transforms` for the steps before `step`, then none (the last steps see the image as it is)."""

    def __init__(self, step: int, transforms: Sequence[Transform]):
        self.step, self.transforms = step, list(transforms)

    def __call__(self, images, generator, step):
        return compose(self.transforms)(images, generator, step) if step < self.step else images


def compose(transforms: Sequence[Transform]) -> Callable[..., torch.Tensor]:
    """Apply `transforms` in order: `(images, generator, step=0) -> images`."""
    def apply(images, generator, step: int = 0):
        for transform in transforms:
            images = transform(images, generator, step) if isinstance(transform, StepTransform) \
                else transform(images, generator)
        return images
    return apply


def standard_transforms() -> list[Transform]:
    """Lucid's reference set: pad 12 → jitter 8 → scale (0.9..1.1) → rotate ±10° → jitter 4."""
    scales = [1 + (i - 5) / 50 for i in range(11)]
    degrees = list(range(-10, 11)) + [0] * 5
    return [pad(12), jitter(8), scale_rotate(scales, degrees), jitter(4)]


def icon_transforms() -> list[Transform]:
    """The activation-atlas icon set: pad 16 → jitters → slight zooms → rotations → jitter 2."""
    scales = [0.998 ** n for n in range(20, 40)]
    degrees = list(range(-20, 20)) + list(range(-10, 10)) + list(range(-5, 5)) + [0] * 5
    return [pad(16), jitter(4), jitter(4), jitter(8), jitter(8), jitter(8),
            scale_rotate(scales, degrees), jitter(2)]


def strong_transforms() -> list[Transform]:
    """Stronger robustness for class visualizations: larger zoom range and rotations."""
    scales = [0.8 + 0.025 * i for i in range(17)]
    degrees = list(range(-15, 16))
    return [pad(16), jitter(16), scale_rotate(scales, degrees), jitter(8)]


TRANSFORM_SETS = Registry("transform set")


def register_transforms(name: str, factory: Callable[[], list], *, replace: bool = False) -> None:
    """Make `render(..., transforms=name)` use the list `factory()` returns."""
    TRANSFORM_SETS.register(name, factory, replace=replace)


for _name, _factory in (("standard", standard_transforms), ("icon", icon_transforms),
                        ("strong", strong_transforms), ("none", list)):
    register_transforms(_name, _factory)


def transform_set(name: str, size: int) -> list:
    """The registered set `name`, cropped back to `size` at the end (the model sees size x size)."""
    return TRANSFORM_SETS.get(name)() + [crop_to(size)]
