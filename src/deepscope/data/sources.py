"""Where images come from (a folder, recursively, a file list or a torch dataset) and decoding ahead
of use: the one decoder behind atlas collection, dataset examples and code maps.

A source is a list of ids plus `load(index) -> (3, S, S) tensor in [0, 1]` that raises
`ImageError` for an unusable image. `prefetch` decodes in a thread pool while the caller runs
the model, so decoding overlaps the forward pass (Pillow and torch release the GIL).
"""
from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from deepscope.data.images import ImageError, image_files, load_image_resized, resize_center_crop
from deepscope.errors import DeepscopeError


@dataclass
class ImageSource:
    ids: list[str]
    load: Callable[[int], torch.Tensor]
    description: str


def folder_source(folder: str | os.PathLike, size: int) -> ImageSource:
    """Every image file under `folder` (sorted); ids are paths relative to the folder."""
    root = Path(folder)
    files = image_files(root)
    ids = [f.relative_to(root).as_posix() for f in files]
    return ImageSource(ids, lambda i: load_image_resized(files[i], size), str(root))


def files_source(files: Sequence[str | os.PathLike], size: int) -> ImageSource:
    """The image files `files`, in order; ids are the paths as given."""
    files = [Path(f) for f in files]
    return ImageSource([str(f) for f in files], lambda i: load_image_resized(files[i], size), f"{len(files)} files")


def dataset_source(dataset, size: int) -> ImageSource:
    """A map-style dataset whose items are images or (image, label) pairs (PIL or (3, H, W) tensors)."""
    def load(i: int) -> torch.Tensor:
        try:
            item = dataset[i]
        except Exception as err:
            raise ImageError(f"dataset item {i}: {type(err).__name__}: {err}") from err
        image = item[0] if isinstance(item, (tuple, list)) else item
        if isinstance(image, Image.Image):
            from deepscope.data.images import to_rgb_array

            image = torch.from_numpy(to_rgb_array(image)).permute(2, 0, 1)
        if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
            raise ImageError(f"dataset item {i}: expected a PIL image or a (3, H, W) tensor, "
                             f"got {type(image).__name__}")
        return resize_center_crop(image.float().expand(3, -1, -1), size)

    return ImageSource([str(i) for i in range(len(dataset))], load, type(dataset).__name__)


def as_source(images, size: int) -> ImageSource:
    if isinstance(images, ImageSource):
        return images
    if isinstance(images, (str, os.PathLike)):
        return folder_source(images, size)
    if hasattr(images, "__getitem__") and hasattr(images, "__len__"):
        return dataset_source(images, size)
    raise TypeError(f"images must be a folder path or a map-style dataset, got {type(images).__name__}")


def _safe_load(source: ImageSource, index: int):
    try:
        return index, source.load(index), None
    except ImageError as err:
        return index, None, str(err)
    except MemoryError:
        return index, None, f"{source.ids[index]}: not enough memory to decode this image"
    except (RuntimeError, ValueError) as err:  # e.g. an absurd size that passed the checks
        return index, None, f"{source.ids[index]}: {type(err).__name__}: {err}"


def default_workers() -> int:
    """Decoding threads when none are asked for: half the cores, 1 to 4. On 2 cores one decoder
    keeps collection at 0.95-1.00x the bare forward pass, two at 0.90-0.92x (bench/atlas.py)."""
    return min(4, max(1, (os.cpu_count() or 1) // 2))


def prefetch(source: ImageSource, indices: Iterable[int], workers: int | None, ahead: int
             ) -> Iterator[tuple[int, torch.Tensor | None, str | None]]:
    """(index, image or None, error or None) in order, decoded `ahead` images in advance by
    `workers` threads (None: `default_workers()`; 0: in the caller's thread)."""
    workers = default_workers() if workers is None else workers
    if workers <= 0:
        for index in indices:
            yield _safe_load(source, index)
        return
    pending: deque = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="deepscope-decode") as pool:
        for index in indices:
            pending.append(pool.submit(_safe_load, source, index))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def take(stream: Iterator[tuple[int, Any, str | None]], count: int
         ) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    """The next `count` items of a `prefetch` stream, split: (index, item) of the readable ones and
    (index, reason) of the others."""
    readable, unreadable = [], []
    for _ in range(count):
        index, item, error = next(stream)
        if item is None:
            unreadable.append((index, error))
        else:
            readable.append((index, item))
    return readable, unreadable


SOURCES_MANIFEST = "sources.json"  # {"groups": {relative path: source id}} beside a folder's images


def image_groups(files: Sequence[str | os.PathLike], folder: str | os.PathLike) -> list[str] | None:
    """The source id of each of `files` from `folder/sources.json` (e.g. the photo a view was cut
    from; a file it does not list is its own source); None without a manifest."""
    manifest = Path(folder) / SOURCES_MANIFEST
    if not manifest.is_file():
        return None
    try:
        groups = json.loads(manifest.read_text())["groups"]
    except (ValueError, KeyError, TypeError) as err:
        raise DeepscopeError(f"{manifest} is not a sources manifest ({err}); fix or remove it") from err
    relative = [Path(os.path.relpath(Path(f).resolve(), Path(folder).resolve())).as_posix() for f in files]
    return [str(groups.get(r, r)) for r in relative]
