"""CNN codes (Karpathy): the penultimate-layer vector of each image, i.e. the input of the classifier,
with the logits' top-5 and a thumbnail, in one streaming pass over an image folder, or in shard
ranges on an engine (`--engine ray`) whose codes concatenate into the same result."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from deepscope.data.images import to_uint8
from deepscope.data.stream import iter_batches
from deepscope.distributed.shards import batch_shards, map_shards
from deepscope.errors import DeepscopeError
from deepscope.models.capture import capture
from deepscope.models.heads import classifier_head
from deepscope.models.vision_model import LOGITS, VisionModel


@dataclass
class Codes:
    files: list[Path]  # the images that were read, in order
    codes: np.ndarray  # (N, D) float32
    top5: np.ndarray  # (N, 5) class indices, best first
    thumbs: np.ndarray  # (N, t, t, 3) uint8
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def state(self) -> dict:
        """Tensors, strings and lists only (what `Job.save_tensors` keeps and reads back safely)."""
        return {"files": [str(f) for f in self.files], "codes": torch.from_numpy(self.codes),
                "top5": torch.from_numpy(self.top5), "thumbs": torch.from_numpy(self.thumbs),
                "skipped": [list(s) for s in self.skipped]}

    @classmethod
    def from_state(cls, state: dict) -> Codes:
        return cls([Path(f) for f in state["files"]], state["codes"].numpy(), state["top5"].numpy(),
                   state["thumbs"].numpy(), [tuple(s) for s in state["skipped"]])

    @classmethod
    def concat(cls, parts: Sequence[Codes], thumb: int) -> Codes:
        """The codes of consecutive image ranges as one pass over them all."""
        read = [p for p in parts if p.files]
        skipped = [s for p in parts for s in p.skipped]
        if not read:
            return _no_codes(thumb, skipped)
        return cls([f for p in read for f in p.files], *(np.concatenate([getattr(p, key) for p in read])
                                                          for key in ("codes", "top5", "thumbs")), skipped)


def classifier(model: VisionModel) -> tuple[str, torch.nn.Module]:
    """(name, module) of the final linear layer, whose input is the CNN code."""
    found = classifier_head(model)
    if found is None:
        raise DeepscopeError(f"model {model.name!r} has no final linear classifier, so no penultimate-layer codes")
    return found


def cnn_codes(model: VisionModel, files: Sequence[Path], *, size: int | None = None, batch_size: int = 16,
              thumb: int = 48, progress: bool = True, workers: int | None = None) -> Codes:
    """Codes, top-5 classes and thumbnails of every readable image in `files` (unreadable ones skipped)."""
    size = size or model.input_size
    head, _ = classifier(model)
    read, codes, top5, thumbs, skipped = [], [], [], [], []
    bar = tqdm(total=len(files), desc="codes", unit="img", disable=not progress, dynamic_ncols=True)
    with torch.no_grad(), capture(model, [head, LOGITS], inputs=True, detach=True) as cap:
        for batch in iter_batches(files, size, batch_size, workers=workers):
            skipped += [(str(files[i]), reason) for i, reason in batch.skipped]
            bar.update(batch.stop - batch.start)
            if not batch.indices:
                continue
            acts = cap(batch.images.to(model.device))
            logits = acts[LOGITS]
            codes.append(acts[head].flatten(1).float().cpu())
            top5.append(logits.topk(min(5, logits.shape[1]), 1).indices.cpu())
            small = F.interpolate(batch.images, size=(thumb, thumb), mode="bilinear", antialias=True,
                                  align_corners=False)
            thumbs.append(to_uint8(small).permute(0, 2, 3, 1))
            read += [files[i] for i in batch.indices]
    bar.close()
    if not read:
        return _no_codes(thumb, skipped)
    return Codes(read, torch.cat(codes).numpy(), torch.cat(top5).numpy(), torch.cat(thumbs).numpy(), skipped)


def _no_codes(thumb: int, skipped: list) -> Codes:
    return Codes([], np.zeros((0, 0), np.float32), np.zeros((0, 5), np.int64),
                 np.zeros((0, thumb, thumb, 3), np.uint8), skipped)


def codes_shard(model: VisionModel, shard: tuple[int, int], *, files: Sequence[Path], **options) -> dict:
    """The codes of `files[first:end]` (one task of a sharded pass), as a state."""
    return cnn_codes(model, files[shard[0]:shard[1]], progress=False, **options).state()


def sharded_codes(engine, model: VisionModel, files: Sequence[Path], folder: Path | None, settings: dict, *,
                  size: int, batch_size: int = 16, thumb: int = 48, workers: int | None = None,
                  shard_size: int | None = None, progress: bool = True) -> Codes:
    """`cnn_codes` as shard tasks on `engine` (`shard_size` images each, a multiple of the batch size, so the
    batches are those of one pass), each kept in `folder` (removed by the caller once the codes are saved)."""
    engine.check(model)
    work = partial(codes_shard, files=list(files), size=size, batch_size=batch_size, thumb=thumb, workers=workers)
    parts = map_shards(engine, work, batch_shards(len(files), batch_size, shard_size), folder,
                       {**settings, "shard_size": shard_size}, desc="codes", progress=progress)
    return Codes.concat([Codes.from_state(p) for p in parts], thumb)
