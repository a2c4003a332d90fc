"""The on-disk activation store: a folder of shards, each holding one range of image indices.

Layout of a store folder:
- `meta.json`: what was collected (model, layer, positions per image, seed, ...), fixed at start;
- `images.txt`: the image ids, one per line, in index order (the index is the line number);
- `shards/<first>-<end>/`: one folder per image range [first, end) with `acts.npy` (n, C) float32,
  `image.npy` (n,) image indices, `pos.npy` (n, 2) (y, x) positions in the layer's map,
  `attr.npy` (n, classes) float16 when attributions were asked for, and `failed.json`.

A shard folder is written under a temporary name and renamed when complete, so a killed run
leaves either a finished shard or nothing (`meta.json` and `images.txt` are written atomically by
`jobs.write_text`); all files are plain `.npy`/JSON, so the same collection writes byte-identical
files. Several processes may write one store at once (`publish`: a lock, a shard finished first by
another process accepted, orphaned temporary folders of dead writers removed). Shards from
processes or machines that split the image range merge by copying their folders into one store
(`merge_stores`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepscope.atlas.collection.publish import DONE, publish, store_lock, temp_folder
from deepscope.errors import DeepscopeError
from deepscope.jobs import changed_settings, write_text

META = "meta.json"
IMAGES = "images.txt"
SHARDS = "shards"
ARRAYS = ("acts", "image", "pos", "attr")
UNCHECKED = {"source"}  # informative only: the same images reached by another path are the same collection


def ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def shard_ranges(num_images: int, shard_size: int) -> list[tuple[int, int]]:
    return [(a, min(a + shard_size, num_images)) for a in range(0, num_images, shard_size)]


def shard_name(first: int, end: int) -> str:
    return f"{first:09d}-{end:09d}"


def init_store(root: Path, meta: dict, ids: list[str]) -> None:
    """Create the store, or check that an existing one was started with the same settings (under the
    store's lock: of two processes starting one store, one creates it and the other checks it)."""
    root.mkdir(parents=True, exist_ok=True)
    meta_path = root / META
    with store_lock(root):
        if meta_path.exists():
            old, new = (_checked(m) for m in (json.loads(meta_path.read_text()), meta))
            if any(old.get(k) != new.get(k) for k in set(old) | set(new)):
                raise DeepscopeError(f"the activation store {str(root)!r} was collected with other settings "
                                     f"({changed_settings(old, new)}); use another store folder (--store) or "
                                     "delete this one")
            return
        (root / SHARDS).mkdir(exist_ok=True)
        write_text(root / IMAGES, "".join(i + "\n" for i in ids))
        write_text(meta_path, json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _checked(meta: dict) -> dict:
    """The settings a store is checked against (informative fields left out)."""
    return {k: v for k, v in meta.items() if k not in UNCHECKED}


def shard_done(root: Path, first: int, end: int) -> bool:
    return (root / SHARDS / shard_name(first, end) / DONE).exists()


def write_shard(root: Path, first: int, end: int, arrays: dict[str, np.ndarray], failed: list[dict]) -> bool:
    """Write one shard atomically: into a temporary folder, then renamed into place; False when
    another process wrote the same shard first (its copy is kept)."""
    final = root / SHARDS / shard_name(first, end)
    tmp = temp_folder(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for key, value in arrays.items():
        if value is not None:
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(value))
    (tmp / DONE).write_text(json.dumps(failed, indent=1, sort_keys=True) + "\n")  # the marker, last
    for f in tmp.iterdir():  # data on disk before the rename makes the shard visible
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    return publish(tmp, final)


@dataclass
class ActivationStore:
    """A finished collection in memory: one row per sampled position.

    `acts` (N, C) float32, `image` (N,) index into `ids`, `pos` (N, 2) (y, x) in the layer's map,
    `attr` (N, classes) attribution of each position to each class (None if not collected),
    `failed` the images that could not be read, each `{"index", "id", "reason"}`.
    """

    root: Path | None
    meta: dict
    ids: list[str]
    acts: np.ndarray
    image: np.ndarray
    pos: np.ndarray
    attr: np.ndarray | None = None
    failed: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.acts)

    @property
    def layer(self) -> str:
        return self.meta.get("layer", "")

    @property
    def classes(self) -> list[str] | None:
        return self.meta.get("class_names")

    def subset(self, rows: np.ndarray) -> ActivationStore:
        """The same store restricted to some rows (e.g. a class filter)."""
        return ActivationStore(self.root, self.meta, self.ids, self.acts[rows], self.image[rows], self.pos[rows],
                               None if self.attr is None else self.attr[rows], self.failed)

    def source(self, row: int) -> dict:
        """Where activation `row` comes from: image id and (y, x) position."""
        return {"image": self.ids[int(self.image[row])], "position": [int(v) for v in self.pos[row]]}


def missing_shards(root: Path) -> list[tuple[int, int]]:
    meta = json.loads((root / META).read_text())
    return [r for r in shard_ranges(meta["num_images"], meta["shard_size"]) if not shard_done(root, *r)]


def open_store(root: str | os.PathLike) -> ActivationStore:
    """Load a complete store (all shards, in image order); a clear error if it is incomplete."""
    root = Path(root)
    if not (root / META).exists():
        raise DeepscopeError(f"{str(root)!r} is not an activation store (no {META}); collect one first")
    meta = json.loads((root / META).read_text())
    ids = (root / IMAGES).read_text().splitlines()
    missing = missing_shards(root)
    if missing:
        raise DeepscopeError(f"the activation store {str(root)!r} is incomplete: {len(missing)} of its image ranges "
                             f"are not collected yet (first: images {missing[0][0]}..{missing[0][1] - 1}); "
                             "rerun the collection (it resumes) or run the remaining --shard parts")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ARRAYS}
    failed: list[dict] = []
    for first, end in shard_ranges(meta["num_images"], meta["shard_size"]):
        folder = root / SHARDS / shard_name(first, end)
        for key in ARRAYS:
            path = folder / f"{key}.npy"
            if path.exists():
                parts[key].append(np.load(path))
        failed.extend(json.loads((folder / DONE).read_text()))
    channels, classes = meta["channels"], meta.get("num_classes", 0)
    acts = np.concatenate(parts["acts"]) if parts["acts"] else np.zeros((0, channels), np.float32)
    image = np.concatenate(parts["image"]) if parts["image"] else np.zeros(0, np.int64)
    pos = np.concatenate(parts["pos"]) if parts["pos"] else np.zeros((0, 2), np.int16)
    attr = None
    if meta.get("attribution"):
        attr = np.concatenate(parts["attr"]) if parts["attr"] else np.zeros((0, classes), np.float16)
    return ActivationStore(root, meta, ids, acts, image, pos, attr, failed)


def merge_stores(sources: list[str | os.PathLike], target: str | os.PathLike) -> Path:
    """Merge stores that collected parts of the same image range (same settings) into `target`."""
    target = Path(target)
    metas = [json.loads((Path(s) / META).read_text()) for s in sources]
    if any(m != metas[0] for m in metas[1:]):
        raise DeepscopeError("these stores were collected with different settings and cannot be merged")
    ids = (Path(sources[0]) / IMAGES).read_text().splitlines()
    init_store(target, metas[0], ids)
    for source in sources:
        for shard in sorted((Path(source) / SHARDS).iterdir()):
            dest = target / SHARDS / shard.name
            if shard.name.startswith(".") or (dest / DONE).exists() or not (shard / DONE).exists():
                continue
            tmp = temp_folder(dest)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(shard, tmp)
            publish(tmp, dest)
    return target
