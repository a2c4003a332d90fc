"""Receptive-field crops of the images the network saw, and their boxes in the original files."""
from __future__ import annotations

import torch


def field_crop(image: torch.Tensor, box: tuple[int, int, int, int], field: int, fill: float = 1.0) -> torch.Tensor:
    """The `box` (left, top, right, bottom) of a (3, S, S) image on a `field` x `field` canvas.

    Where the image clips the field, the crop sits where the field would continue outside the image
    (filled with `fill`), so the unit's position is at the same place in every crop of a channel.
    """
    left, top, right, bottom = box
    size_y, size_x = image.shape[1:]
    field = max(field, bottom - top, right - left)
    canvas = torch.full((3, field, field), fill, dtype=image.dtype)
    oy = _offset(top, bottom, size_y, field)
    ox = _offset(left, right, size_x, field)
    canvas[:, oy:oy + bottom - top, ox:ox + right - left] = image[:, top:bottom, left:right]
    return canvas


def _offset(start: int, stop: int, length: int, field: int) -> int:
    """Where a clipped extent goes on the canvas: after the missing part when clipped at the start."""
    missing = field - (stop - start)
    if start == 0 and stop < length:
        return missing
    if start == 0 and stop == length:
        return missing // 2
    return 0


def box_in_original(box: tuple[int, int, int, int], original_hw: tuple[int, int], size: int) -> list[float]:
    """Map a box in the `size`-pixel network input back to the original image, undoing
    `deepscope.data.resize_center_crop` (shorter side resized to `size`, centre square cropped)."""
    h, w = original_hw
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (nh - size) // 2, (nw - size) // 2
    sy, sx = nh / h, nw / w
    x0, y0, x1, y1 = box
    return [round((x0 + left) / sx, 1), round((y0 + top) / sy, 1), round((x1 + left) / sx, 1),
            round((y1 + top) / sy, 1)]
