"""Robust image loading: any common file becomes an RGB tensor in [0, 1], or a clear error.

Handles greyscale, palette, CMYK, RGBA/LA (composited over mid-grey), 16- and 32-bit images and
EXIF orientation; refuses truncated or corrupt files, tiny images and decompression bombs.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from deepscope.errors import DeepscopeError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
MAX_PIXELS = 100_000_000  # a 10k x 10k image; larger files are refused as likely decompression bombs
MIN_SIDE = 8
# Pillow warns from its own, lower limit up to twice it; deepscope checks every file against MAX_PIXELS.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, module="PIL.Image",
                        message="Image size .* could be decompression bomb")


class ImageError(DeepscopeError):
    """An image file that cannot be used; the message names the file and the reason."""


def image_files(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under `folder` (by extension), sorted; a clear error if there are none."""
    root = Path(folder)
    if not root.exists():
        raise DeepscopeError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise DeepscopeError(f"{str(root)!r} is not a folder: give a folder of images")
    pattern = _walk(root) if recursive else root.glob("*")
    files = sorted(p for p in pattern if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise DeepscopeError(f"no image files in {str(root)!r} (looked recursively for {exts})")
    return files


def _walk(root: Path):
    """Every path under `root`, following symlinked folders once each (a link cycle ends there)."""
    seen = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        yield from (Path(folder) / name for name in names)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """float32 (H, W, 3) in [0, 1] for any Pillow mode."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(arr[..., None], 3, axis=2)
    if image.mode in ("I", "F"):
        arr = np.asarray(image, dtype=np.float32)
        hi = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / hi, 0, 1) if image.mode == "I" else np.clip(arr, 0, 1)
        return np.repeat(arr[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        grey = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        image = Image.alpha_composite(grey, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image with Pillow, turning every failure into an `ImageError`.

    The size in the file's header is checked against `MAX_PIXELS` before anything is decoded; no
    global setting is changed, so the limit holds in every decoding thread at once."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{path}: image too large ({width}x{height} = {width * height / 1e6:.0f} Mpx, "
                                 f"likely a decompression bomb); resize it below {MAX_PIXELS // 1_000_000} Mpx")
            image = ImageOps.exif_transpose(image) if image.mode != "I;16" else image
            image.load()
            return image
    except Image.DecompressionBombError as err:  # Pillow's own guard, when its limit is set lower than ours
        raise ImageError(f"{path}: image too large ({err}); resize it below {MAX_PIXELS // 1_000_000} Mpx") from err
    except FileNotFoundError as err:
        raise ImageError(f"{path}: file not found") from err
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as err:
        raise ImageError(f"{path}: unreadable image ({type(err).__name__}: {err})") from err


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """RGB tensor (3, H, W) in [0, 1] for one image file."""
    image = open_image(path)
    if min(image.size) < MIN_SIDE:
        raise ImageError(f"{path}: image is {image.size[0]}x{image.size[1]} px, need at least {MIN_SIDE} px a side")
    return torch.from_numpy(to_rgb_array(image)).permute(2, 0, 1).contiguous()


def resize_center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to `size` (antialiased) and crop the centre square."""
    _, h, w = image.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    resized = torch.nn.functional.interpolate(image[None], size=(nh, nw), mode="bilinear",
                                              antialias=True, align_corners=False)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return resized[:, top:top + size, left:left + size].clamp(0, 1)


def load_image_resized(path: str | os.PathLike, size: int) -> torch.Tensor:
    """`load_image` then `resize_center_crop` to a `size` x `size` square."""
    return resize_center_crop(load_image(path), size)


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] (clamped) as 8-bit, x·255 rounded to the nearest integer; same shape and device."""
    return (image.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def save_image(image: torch.Tensor, path: str | os.PathLike) -> None:
    """Write a (3, H, W) tensor in [0, 1] as an 8-bit PNG/JPEG."""
    Image.fromarray(to_uint8(image).permute(1, 2, 0).cpu().numpy()).save(path)
