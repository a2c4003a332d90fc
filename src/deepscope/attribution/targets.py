"""Target classes for attribution: names, indices, or the model's own top-1 prediction."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from deepscope.models.vision_model import VisionModel


@torch.no_grad()
def top1(model: VisionModel, images: torch.Tensor) -> torch.Tensor:
    """The model's most likely class for each image, shape (B,)."""
    return model(images).argmax(1)


def resolve_targets(model: VisionModel, images: torch.Tensor, target=None) -> torch.Tensor:
    """A (B,) long tensor of class indices.

    `target` is None (each image's top-1 class), one class (index or name, e.g. 207 or
    "golden retriever") for every image, or one class per image.
    """
    batch = images.shape[0]
    if target is None:
        return top1(model, images)
    if isinstance(target, torch.Tensor):
        target = target.flatten().tolist()
    if isinstance(target, (int, str)):
        return torch.full((batch,), model.class_index(target), dtype=torch.long, device=images.device)
    target = list(target)
    if len(target) != batch:
        raise ValueError(f"{len(target)} targets for {batch} images: give one target or one per image")
    return torch.tensor([model.class_index(t) for t in target], dtype=torch.long, device=images.device)


def class_name(model: VisionModel, index: int) -> str:
    """A class's name, or its index as text when the model has no names."""
    return model.classes[index] if model.classes and 0 <= index < len(model.classes) else str(index)


def random_other_classes(num_classes: int, exclude: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """One random class per entry of `exclude`, never equal to it (for class-sensitivity checks)."""
    excl = torch.as_tensor(list(exclude), dtype=torch.long)
    offset = torch.randint(1, num_classes, (len(excl),), generator=generator)
    return (excl + offset) % num_classes
