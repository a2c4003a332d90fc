"""The default image set: the photos that ship inside installed dependencies, cut into views.

25 source images, read straight from the installed packages (no download): 21 from scikit-image's
`skimage/data` (the ones in its wheel; `skimage.data`'s docstrings give each source and licence),
2 from scikit-learn (`sklearn/datasets/images`), 2 from Matplotlib's sample data. Greyscale ones
are turned into RGB. Each is cut into up to `views` crops (its centre square plus overlapping crops
at several scales, none under `MIN_VIEW` source pixels), and a `sources.json` manifest records the
photo of every view, so dataset examples keep at most two crops of one photo (`image_groups`).
The stereo pair `motorcycle_left`/`motorcycle_right` is one scene: one group.
"""
from __future__ import annotations

import gzip
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from deepscope.data.images import to_rgb_array
from deepscope.data.sources import SOURCES_MANIFEST
from deepscope.errors import DeepscopeError
from deepscope.jobs import write_bytes, write_text

VIEWS = 10
MIN_VIEW = 96  # source pixels: smaller crops are not cut (a 102 px photo gives its centre only)
CC0 = "CC0 (public domain dedication)"
PD = "public domain"
SKIMAGE = "distributed with scikit-image (BSD-3-Clause); no licence of its own stated"


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # importable package that ships the file
    relpath: str  # inside that package
    licence: str
    credit: str
    group: str = ""  # the scene (default: the photo itself)
    raw: tuple[int, int] | None = None  # a gzipped big-endian uint16 array of this (height, width)

    @property
    def source(self) -> str:
        return self.group or self.name


def _sk(name: str, file: str, licence: str, credit: str, group: str = "") -> Photo:
    return Photo(name, "skimage", f"data/{file}", licence, credit, group)


PHOTOS = (
    _sk("astronaut", "astronaut.png", f"{PD} (NASA; no known copyright restrictions)",
        "Eileen Collins, NASA Great Images database"),
    _sk("brick", "brick.png", CC0, "CC0Textures (Bricks25), rectified and greyscaled by scikit-image"),
    _sk("camera", "camera.png", CC0, "photograph by Lav Varshney"),
    _sk("cell", "cell.png", CC0, "quantitative phase image of a cell, Paul Müller et al. (Optics Express 2018)"),
    _sk("chelsea", "chelsea.png", CC0, "Chelsea the cat, photograph by Stefan van der Walt"),
    _sk("clock", "clock_motion.png", f"{PD} (released by the photographer)",
        "motion-blurred clock, photograph by Stefan van der Walt"),
    _sk("coffee", "coffee.png", CC0, "photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    _sk("coins", "coins.png", "no known copyright restrictions", "Greek coins from Pompeii, Brooklyn Museum Collection"),
    _sk("grass", "grass.png", CC0, "linolafett on DeviantArt (Grass-01), cropped and greyscaled by scikit-image"),
    _sk("gravel", "gravel.png", CC0, "CC0Textures (Gravel04), cropped and greyscaled by scikit-image"),
    _sk("horse", "horse.png", CC0, "silhouette drawing by Andreas Preuss (marauder) on openclipart"),
    _sk("hubble_deep_field", "hubble_deep_field.jpg", f"{PD} (NASA)", "Hubble eXtreme Deep Field, NASA / HubbleSite"),
    _sk("immunohistochemistry", "ihc.png", "no known copyright restrictions",
        "IHC staining of colonic glands, Center for Microscopy And Molecular Imaging (CMMI)"),
    _sk("microaneurysms", "microaneurysms.png", CC0,
        "retina detail, Andreas Maier, High-Resolution Fundus (HRF) Image Database"),
    _sk("moon", "moon.png", SKIMAGE, "surface of the moon, scikit-image sample data"),
    _sk("motorcycle_left", "motorcycle_left.png", SKIMAGE,
        "Middlebury 2014 stereo benchmark (Scharstein et al.), left view, down-sampled by scikit-image",
        "motorcycle"),
    _sk("motorcycle_right", "motorcycle_right.png", SKIMAGE,
        "Middlebury 2014 stereo benchmark (Scharstein et al.), right view, down-sampled by scikit-image",
        "motorcycle"),
    _sk("page", "page.png", SKIMAGE, "scanned page of printed text, scikit-image sample data"),
    _sk("retina", "retina.jpg", "CC0 1.0 (public domain dedication)",
        "fundus photograph of a normal left eye, Mikael Häggström, Wikimedia Commons"),
    _sk("rocket", "rocket.jpg", f"{PD} (released by SpaceX)", "DSCOVR launch on Falcon 9, SpaceX Photos"),
    _sk("text", "text.png", f"{PD} (no known copyright restrictions)", "handwriting on paper, Wikipedia (Corner.png)"),
    Photo("china", "sklearn", "datasets/images/china.jpg", "CC BY 2.0 (creativecommons.org/licenses/by/2.0)",
          "danielbuechele on Flickr, via scikit-learn"),
    Photo("flower", "sklearn", "datasets/images/flower.jpg", "CC BY 2.0 (creativecommons.org/licenses/by/2.0)",
          "vultilion on Flickr, via scikit-learn"),
    Photo("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
          f"{PD} (U.S. Navy photograph)", "via Matplotlib's sample data"),
    Photo("mri", "matplotlib", "mpl-data/sample_data/s1045.ima.gz",
          "distributed with Matplotlib (Matplotlib licence); no licence of its own stated",
          "MRI slice of a head (s1045.ima), Matplotlib's sample data", raw=(256, 256)),
)


def photo_path(photo: Photo) -> Path:
    """The photo's file inside its installed package (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec(photo.package)
    if spec is None or not spec.origin:
        raise DeepscopeError(f"the default images need {photo.package} (pip install {photo.package}); "
                             "or give --images DIR")
    path = Path(spec.origin).parent / photo.relpath
    if not path.is_file():
        raise DeepscopeError(f"{path} is missing from the installed {photo.package}; give --images DIR")
    return path


def load_photo(photo: Photo) -> Image.Image:
    """The photo as an RGB image (greyscale and transparent ones converted), from the installed file."""
    path = photo_path(photo)
    if photo.raw is not None:
        values = np.frombuffer(gzip.decompress(path.read_bytes()), dtype=">u2").reshape(photo.raw)
        grey = (255 * values.astype(np.float32) / max(int(values.max()), 1)).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    with Image.open(path) as image:
        return Image.fromarray((to_rgb_array(image) * 255).round().astype(np.uint8))


def view_boxes(width: int, height: int, views: int) -> list[tuple[int, int, int, int]]:
    """Up to `views` square crop boxes: the largest centre square, then 3x3 grids at 70%, 50%, 35%
    (those with sides under `MIN_VIEW` px left out)."""
    side = min(width, height)
    boxes = [((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)]
    for scale in (0.7, 0.5, 0.35):
        s = int(side * scale)
        if s < MIN_VIEW:
            break
        for fy in (0.0, 0.5, 1.0):
            for fx in (0.0, 0.5, 1.0):
                left, top = round(fx * (width - s)), round(fy * (height - s))
                boxes.append((left, top, left + s, top + s))
    return boxes[:views]


def _write_views(photo: Photo, folder: Path, views: int, size: int) -> list[str]:
    """The photo's view files in `folder` (written unless all there); their names."""
    boxes = view_boxes(*photo_size(photo), views)
    names = [f"{photo.name}_{i:02d}.jpg" for i in range(len(boxes))]
    if all((folder / n).is_file() for n in names):
        return names
    image = load_photo(photo)
    for name, box in zip(names, boxes):
        buffer = io.BytesIO()
        image.crop(box).resize((size, size), Image.Resampling.LANCZOS).save(buffer, format="JPEG", quality=92)
        write_bytes(folder / name, buffer.getvalue())
    return names


def photo_size(photo: Photo) -> tuple[int, int]:
    """(width, height) of the photo, from its header."""
    if photo.raw is not None:
        return photo.raw[1], photo.raw[0]
    with Image.open(photo_path(photo)) as image:
        return image.size


def write_default_images(folder: str | os.PathLike, views: int = VIEWS, size: int = 256,
                         photos: tuple[str, ...] | None = None) -> Path:
    """Write the default set (JPEG views of the shipped photos, `size` px; only those named in
    `photos` when given) and its `sources.json` into `folder`; files already there are reused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    unknown = set(photos or ()) - {p.name for p in PHOTOS}
    if unknown:
        raise DeepscopeError(f"no default photo named {min(unknown)!r}; the photos are "
                             + ", ".join(p.name for p in PHOTOS))
    groups = {}
    for photo in PHOTOS if photos is None else [p for p in PHOTOS if p.name in photos]:
        for name in _write_views(photo, folder, views, size):
            groups[name] = photo.source
    manifest = json.dumps({"groups": groups}, indent=1)
    if not (folder / SOURCES_MANIFEST).is_file() or (folder / SOURCES_MANIFEST).read_text() != manifest:
        write_text(folder / SOURCES_MANIFEST, manifest)
    return folder


PACKAGES = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "Matplotlib"}


def credits() -> list[dict]:
    """Every photo with the package that ships it, its licence and credit (for the site's overview page)."""
    return [{"photo": p.name, "package": PACKAGES.get(p.package, p.package), "licence": p.licence, "credit": p.credit}
            for p in PHOTOS]
