"""The classifier head of a network: its last `nn.Linear`."""
from __future__ import annotations

from torch import nn

from deepscope.models.vision_model import VisionModel


def classifier_head(model: nn.Module) -> tuple[str, nn.Linear] | None:
    """(layer name, module) of the last `nn.Linear` of `model` (a `VisionModel` or a bare network), or
    None when it has none; names are those of the network (a `VisionModel`'s `net`)."""
    net = model.net if isinstance(model, VisionModel) else model
    found = None
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    return found
