"""Decorrelated colour: the square root of ImageNet's colour correlation (Olah et al. 2017)."""
import torch

_SQRT_CORRELATION = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MATRIX = _SQRT_CORRELATION / _SQRT_CORRELATION.norm(dim=0).max()


def recorrelate(image: torch.Tensor) -> torch.Tensor:
    """Map a (B, 3, H, W) image from decorrelated space to RGB space (before the sigmoid)."""
    return torch.nn.functional.conv2d(image, COLOR_MATRIX.to(image.device, image.dtype)[:, :, None, None])


def decorrelate(image: torch.Tensor) -> torch.Tensor:
    """Inverse of `recorrelate`."""
    inverse = torch.linalg.inv(COLOR_MATRIX).to(image.device, image.dtype)
    return torch.nn.functional.conv2d(image, inverse[:, :, None, None])
