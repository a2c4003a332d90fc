"""List a model's layers with their output shapes."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from deepscope.models.capture import first_tensor
from deepscope.models.vision_model import VisionModel


@dataclass
class LayerInfo:
    name: str
    kind: str
    shape: tuple | None  # output shape for one image, None if the module did not run
    calls: int  # how often it ran in one forward pass
    alias: str | None = None


@torch.no_grad()
def list_layers(model: VisionModel, size: int | None = None) -> list[LayerInfo]:
    """Every named module with its output shape for one `size`x`size` image (one forward pass)."""
    size = size or model.input_size
    shapes: dict[str, tuple] = {}
    calls: dict[str, int] = {}
    handles = []

    def hook_for(name):
        def hook(_m, _i, out):
            calls[name] = calls.get(name, 0) + 1
            tensor = first_tensor(out)
            if tensor is not None:
                shapes[name] = tuple(tensor.shape[1:])
        return hook

    named = [(n, m) for n, m in model.net.named_modules() if n]
    try:
        for name, module in named:
            handles.append(module.register_forward_hook(hook_for(name)))
        model(torch.full((1, 3, size, size), 0.5, device=model.device))
    finally:
        for h in handles:
            h.remove()
    reverse_alias = {v: k for k, v in model.aliases.items()}
    return [LayerInfo(n, type(m).__name__, shapes.get(n), calls.get(n, 0), reverse_alias.get(n)) for n, m in named]
