"""Average Fourier magnitude spectrum of natural images, for the MaCo parameterization.

deepscope ships one computed from the 1000 ImageNet samples (`data/maco_magnitude.npy`,
`python -m deepscope.render.spectrum IMAGE_DIR` rebuilds it). It is stored with the rows
fft-shifted so that it can be resized to any render size without tearing the spectrum.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepscope.render.color import decorrelate

SHIPPED = Path(__file__).parent / "data" / "maco_magnitude.npy"
SIZE = 256


def magnitude_of(images: torch.Tensor) -> torch.Tensor:
    """Mean |rfft2| over a batch of (B, 3, S, S) images in decorrelated colour, rows fft-shifted."""
    centered = decorrelate(images - 0.5)
    spectrum = torch.fft.rfft2(centered, norm="ortho").abs().mean(0)
    return torch.fft.fftshift(spectrum, dim=-2)


def compute_magnitude(folder: str | Path, size: int = SIZE, limit: int | None = None) -> np.ndarray:
    """Average magnitude spectrum (3, size, size//2+1) of the images in `folder`."""
    from deepscope.data.images import image_files, load_image_resized

    files = image_files(folder)[:limit]
    total, count = None, 0
    for path in files:
        image = load_image_resized(path, size)
        if image is None:
            continue
        mag = magnitude_of(image[None])
        total = mag if total is None else total + mag
        count += 1
    if not count:
        raise ValueError(f"no readable image in {folder}")
    return (total / count).numpy()


@lru_cache(maxsize=8)
def natural_magnitude(height: int, width: int) -> torch.Tensor:
    """The shipped magnitude spectrum resized to an image of `height` x `width` (rfft layout)."""
    stored = torch.from_numpy(np.load(SHIPPED).astype(np.float32))
    resized = F.interpolate(stored[None], size=(height, width // 2 + 1), mode="bilinear",
                            align_corners=False, antialias=True)[0]
    return torch.fft.ifftshift(resized, dim=-2)


if __name__ == "__main__":
    folder = sys.argv[1]
    SHIPPED.parent.mkdir(exist_ok=True)
    np.save(SHIPPED, compute_magnitude(folder).astype(np.float16))
    print(f"wrote {SHIPPED}")
