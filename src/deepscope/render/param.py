"""Parameterizations: modules whose forward returns an image batch (B, 3, H, W) in [0, 1]."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deepscope.registry import Registry
from deepscope.render.color import recorrelate
from deepscope.render.spectrum import natural_magnitude


def _fft_frequencies(height: int, width: int) -> torch.Tensor:
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def _to_rgb(image: torch.Tensor, decorrelated: bool) -> torch.Tensor:
    return torch.sigmoid(recorrelate(image) if decorrelated else image)


class PixelImage(nn.Module):
    """Free pixels (in decorrelated colour by default), squashed to [0, 1] by a sigmoid."""

    def __init__(self, batch: int, height: int, width: int, *, sd: float = 0.01, decorrelated: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.pixels = nn.Parameter(torch.randn(batch, 3, height, width, generator=generator) * sd)
        self.decorrelated = decorrelated

    def forward(self) -> torch.Tensor:
        return _to_rgb(self.pixels, self.decorrelated)


class FourierImage(nn.Module):
    """Fourier-space image, spectrum scaled by 1/frequency (Olah et al. 2017), decorrelated colour."""

    def __init__(self, batch: int, height: int, width: int, *, sd: float = 0.01, decay_power: float = 1.0,
                 decorrelated: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        freqs = _fft_frequencies(height, width)
        scale = 1.0 / freqs.clamp_min(1.0 / max(height, width)) ** decay_power
        self.register_buffer("scale", scale[None, None] / 4.0)
        self.size = (height, width)
        self.spectrum = nn.Parameter(torch.randn(batch, 3, *freqs.shape, 2, generator=generator) * sd)
        self.decorrelated = decorrelated

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        return _to_rgb(image, self.decorrelated)


class MacoImage(nn.Module):
    """MaCo (Fel et al. 2023): only the Fourier phase is optimized; the magnitude is the average
    spectrum of natural images, so the image keeps natural-image statistics on deep networks."""

    def __init__(self, batch: int, height: int, width: int, *, contrast: float = 2.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.register_buffer("magnitude", natural_magnitude(height, width)[None].clone())
        phase = (torch.rand(batch, 3, height, width // 2 + 1, generator=generator) * 2 - 1) * math.pi
        self.phase = nn.Parameter(phase)
        self.size = (height, width)
        self.contrast = contrast

    def forward(self) -> torch.Tensor:
        spectrum = torch.polar(self.magnitude.expand_as(self.phase), self.phase)
        image = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        flat = image.flatten(1)
        image = (image - flat.mean(1).view(-1, 1, 1, 1)) / flat.std(1).clamp_min(1e-8).view(-1, 1, 1, 1)
        return torch.sigmoid(self.contrast * recorrelate(image))


@dataclass(frozen=True)
class ParamEntry:
    """A registered parameterization: `factory(batch, height, width, generator=...)`, its default
    learning rate and optimizer class."""

    factory: Callable[..., nn.Module]
    lr: float = 0.05
    optimizer: type = torch.optim.Adam


PARAMS = Registry("parameterization")


def register_param(name: str, factory: Callable[..., nn.Module], *, lr: float = 0.05,
                   optimizer: type = torch.optim.Adam, replace: bool = False) -> None:
    """Make `render(..., param=name)` build its images with `factory(batch, height, width, generator=g)`."""
    PARAMS.register(name, ParamEntry(factory, lr, optimizer), replace=replace)


register_param("fft", FourierImage)
register_param("pixel", PixelImage)
register_param("maco", MacoImage, lr=0.2, optimizer=torch.optim.NAdam)  # 1.0 (the paper) diverges at 128 px


def default_lr(kind: str) -> float:
    """The learning rate `render` uses for parameterization `kind` when none is given."""
    return PARAMS.get(kind).lr


def make_param(kind: str, batch: int, height: int, width: int | None = None, *,
               generator: torch.Generator | None = None) -> nn.Module:
    """A parameterization by name: `fft` (default), `pixel`, `maco` or one registered by `register_param`."""
    return PARAMS.get(kind).factory(batch, height, width or height, generator=generator)
