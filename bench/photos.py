"""The photo reference: the best spatial-mean activation any dataset image reaches per channel."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from deepscope.data import image_files, load_image_resized
from deepscope.models import VisionModel, activations


def best_photo_activations(model: VisionModel, layer: str, folder: str | Path, size: int,
                           batch_size: int = 32, progress: bool = True) -> dict:
    """Per channel of `layer`: the maximum over all images (resized, shorter side to `size`, centre
    crop) of the channel's spatial mean, and the file that reaches it."""
    files = image_files(folder)
    best, best_index = None, None
    for start in tqdm(range(0, len(files), batch_size), desc=f"photos@{size}", disable=not progress,
                      leave=False):
        batch = torch.stack([load_image_resized(f, size) for f in files[start:start + batch_size]])
        means = activations(model, batch, [layer])[layer].flatten(2).mean(2)  # (B, C)
        top, arg = means.max(0)
        if best is None:
            best, best_index = top, arg + start
        else:
            better = top > best
            best = torch.where(better, top, best)
            best_index = torch.where(better, arg + start, best_index)
    return {"max": best.tolist(), "file": [files[i].name for i in best_index.tolist()],
            "images": len(files), "size": size}


def channel_scores(model: VisionModel, layer: str, channels: Sequence[int], images: torch.Tensor) -> list[float]:
    """Spatial mean of channel `channels[i]` for image i, untransformed, at the images' own size."""
    acts = activations(model, images, [layer])[layer]
    return [float(acts[i, c].mean()) for i, c in enumerate(channels)]
