"""Small JPEG crops of source images around a layer position (its receptive field), cached loads."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from PIL import Image

from deepscope.data.images import ImageError, load_image_resized, to_uint8
from deepscope.examples.crops import field_crop
from deepscope.examples.receptive_field import ReceptiveField

CROP_PX = 96
FILL = 0.5  # mid-grey where the image clips the field


class Cropper:
    """Cuts receptive-field crops of images (as the network saw them) for a layer."""

    def __init__(self, rf: ReceptiveField, size: int = CROP_PX):
        self.rf, self.size = rf, size
        self._load = lru_cache(maxsize=64)(self._load_uncached)

    def _load_uncached(self, path: str) -> torch.Tensor | None:
        try:
            return load_image_resized(path, self.rf.input_size)
        except ImageError:
            return None

    def save(self, image_path: str | Path, position: tuple[int, int], out: Path) -> bool:
        """Write the crop of `image_path` around grid `position` (y, x) to `out`; False if unreadable."""
        image = self._load(str(image_path))
        if image is None:
            return False
        crop = field_crop(image, self.rf.box(*position), self.rf.size, FILL)
        picture = Image.fromarray(to_uint8(crop).permute(1, 2, 0).numpy())
        if picture.width > self.size:
            picture = picture.resize((self.size, self.size), Image.Resampling.LANCZOS)
        out.parent.mkdir(parents=True, exist_ok=True)
        picture.save(out, quality=88)
        return True
