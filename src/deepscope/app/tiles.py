"""An image pyramid of the atlas picture, cut into tiles, so the browser draws only what is visible.

Level 0 is the full picture; each next level halves it, down to the first level that fits one
tile. A 100k-activation atlas at grid 80 with 80 px icons is a 6400 px square: 625 tiles at full
zoom, but a screenful is never more than a few dozen tiles of whichever level matches the zoom.
"""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

TILE = 256


def pyramid(picture: Image.Image, out: Path, tile: int = TILE, fmt: str = "jpg") -> dict:
    """Write `out/<level>/<col>_<row>.<fmt>` and return the pyramid's description for the viewer."""
    out = Path(out)
    picture = picture.convert("RGB")
    width, height = picture.size
    levels = max(1, math.ceil(math.log2(max(width, height) / tile)) + 1)
    described = []
    image = picture
    for level in range(levels):
        folder = out / str(level)
        folder.mkdir(parents=True, exist_ok=True)
        cols, rows = math.ceil(image.width / tile), math.ceil(image.height / tile)
        for r in range(rows):
            for c in range(cols):
                box = (c * tile, r * tile, min((c + 1) * tile, image.width), min((r + 1) * tile, image.height))
                part = image.crop(box)
                if fmt == "jpg":
                    part.save(folder / f"{c}_{r}.jpg", quality=88)
                else:
                    part.save(folder / f"{c}_{r}.{fmt}")
        described.append({"level": level, "width": image.width, "height": image.height, "cols": cols, "rows": rows,
                          "scale": image.width / width})
        if level + 1 < levels:
            image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.LANCZOS)
    return {"tile": tile, "format": fmt, "width": width, "height": height, "levels": described}
