"""CNN codes (Karpathy): the penultimate-layer vector of each image, i.e. the input of the classifier,
with the logits' top-5 and a thumbnail, in one streaming pass over an image folder."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from deepscope.data.images import to_uint8
from deepscope.data.stream import iter_batches
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
        return Codes([], np.zeros((0, 0), np.float32), np.zeros((0, 5), np.int64),
                     np.zeros((0, thumb, thumb, 3), np.uint8), skipped)
    return Codes(read, torch.cat(codes).numpy(), torch.cat(top5).numpy(), torch.cat(thumbs).numpy(), skipped)
