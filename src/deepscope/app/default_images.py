"""The default image set: three photos that ship inside installed dependencies, cut into views.

- `china.jpg`, `flower.jpg` from scikit-learn (`sklearn/datasets/images`), CC BY 2.0, photos by
  danielbuechele and vultilion on Flickr (attribution below and on the site's overview page);
- `grace_hopper.jpg` from Matplotlib's sample data, a U.S. Navy photograph in the public domain.

Three photos are too few for dataset examples and an atlas, so each is cut into `views` crops
(its centre square plus overlapping crops at several scales): 3 x 10 = 30 images by default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from deepscope.errors import DeepscopeError


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # importable package that ships the file
    relpath: str  # inside that package
    licence: str
    credit: str


PHOTOS = (
    Photo("china", "sklearn", "datasets/images/china.jpg", "CC BY 2.0 (creativecommons.org/licenses/by/2.0)",
          "danielbuechele on Flickr, via scikit-learn"),
    Photo("flower", "sklearn", "datasets/images/flower.jpg", "CC BY 2.0 (creativecommons.org/licenses/by/2.0)",
          "vultilion on Flickr, via scikit-learn"),
    Photo("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
          "public domain (U.S. Navy photograph)", "via Matplotlib's sample data"),
)


def photo_path(photo: Photo) -> Path:
    import importlib

    try:
        module = importlib.import_module(photo.package)
    except ImportError as err:
        raise DeepscopeError(f"the default images need {photo.package} (pip install {photo.package}); "
                             "or give --images DIR") from err
    path = Path(module.__file__).parent / photo.relpath
    if not path.is_file():
        raise DeepscopeError(f"{path} is missing from the installed {photo.package}; give --images DIR")
    return path


def view_boxes(width: int, height: int, views: int) -> list[tuple[int, int, int, int]]:
    """`views` square crop boxes: the largest centre square, then a 3x3 grid at 70%, then 50% ones."""
    side = min(width, height)
    boxes = [((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)]
    for scale in (0.7, 0.5, 0.35):
        s = int(side * scale)
        for fy in (0.0, 0.5, 1.0):
            for fx in (0.0, 0.5, 1.0):
                left, top = round(fx * (width - s)), round(fy * (height - s))
                boxes.append((left, top, left + s, top + s))
    return boxes[:views]


def write_default_images(folder: str | os.PathLike, views: int = 10, size: int = 256) -> Path:
    """Write the default set (JPEG views of the shipped photos, `size` px) into `folder`; reused if there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for photo in PHOTOS:
        names = [folder / f"{photo.name}_{i:02d}.jpg" for i in range(views)]
        if all(n.is_file() for n in names):
            continue
        with Image.open(photo_path(photo)) as image:
            image = image.convert("RGB")
            for name, box in zip(names, view_boxes(*image.size, views)):
                view = image.crop(box).resize((size, size), Image.Resampling.LANCZOS)
                tmp = name.with_name(f".{name.name}.tmp")
                view.save(tmp, format="JPEG", quality=92)
                os.replace(tmp, name)
    return folder


def credits() -> list[dict]:
    return [{"photo": p.name, "licence": p.licence, "credit": p.credit} for p in PHOTOS]
