"""What a saliency map explains: a class (index or name, or the model's own top-1 prediction), or
any render objective (`channel("blocks.4", 3)`, `neuron(...)`, ...), so a channel or a neuron can
be explained as well as a class."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from deepscope.errors import DeepscopeError
from deepscope.models.capture import capture
from deepscope.models.vision_model import INPUT, LOGITS, VisionModel
from deepscope.render.objectives import Objective


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
    if any(isinstance(t, Objective) for t in target):
        raise DeepscopeError("give one objective for the whole batch (`objective.at(i)` scores image i only), "
                             "not a list of objectives")
    if len(target) != batch:
        raise ValueError(f"{len(target)} targets for {batch} images: give one target or one per image")
    return torch.tensor([model.class_index(t) for t in target], dtype=torch.long, device=images.device)


def objective_forward(model: VisionModel, objective: Objective) -> Callable[[torch.Tensor], torch.Tensor]:
    """`forward(images)` -> the objective's (B,) scores, for captum with `target=None`."""
    cap = capture(model, objective.layers, canonical=True)  # resolves (and checks) the layer names now

    def forward(images: torch.Tensor) -> torch.Tensor:
        with cap:
            score = objective.score(cap(images))
        if score.shape != (images.shape[0],):
            raise DeepscopeError(f"objective {objective.name} gave scores of shape {tuple(score.shape)} for "
                                 f"{images.shape[0]} images: it must give one score per image")
        return score
    return forward


def target_forward(model: VisionModel, images: torch.Tensor, target=None):
    """(forward, targets) for captum: (model, (B,) class indices) for a class target (see
    `resolve_targets`), (objective's scores, None) for an `Objective`."""
    if isinstance(target, Objective):
        return objective_forward(model, target), None
    return model, resolve_targets(model, images, target)


def objective_layer(target) -> str | None:
    """The layer an objective reads (its first one other than the logits and the input), else None."""
    if not isinstance(target, Objective):
        return None
    return next((layer for layer in target.layers if layer not in (LOGITS, INPUT)), None)


def class_name(model: VisionModel, index: int) -> str:
    """A class's name, or its index as text when the model has no names."""
    return model.classes[index] if model.classes and 0 <= index < len(model.classes) else str(index)


def random_other_classes(num_classes: int, exclude: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """One random class per entry of `exclude`, never equal to it (for class-sensitivity checks)."""
    excl = torch.as_tensor(list(exclude), dtype=torch.long)
    offset = torch.randint(1, num_classes, (len(excl),), generator=generator)
    return (excl + offset) % num_classes
