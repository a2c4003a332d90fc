"""Robust image loading, image folders."""
from deepscope.data.images import (
    ImageError,
    image_files,
    load_image,
    load_image_resized,
    resize_center_crop,
    save_image,
)

__all__ = ["ImageError", "image_files", "load_image", "load_image_resized", "resize_center_crop", "save_image"]
