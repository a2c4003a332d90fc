"""List a model's layers with their output shapes and layouts (`models.layout`)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from deepscope.errors import DeepscopeError
from deepscope.models.capture import first_tensor
from deepscope.models.layout import LayerSpec, layer_spec, spec_from_shape
from deepscope.models.vision_model import VisionModel


@dataclass
class LayerInfo:
    name: str
    kind: str
    shape: tuple | None  # output shape for one image, None if the module did not run
    calls: int  # how often it ran in one forward pass
    alias: str | None = None
    spec: LayerSpec | None = None  # the layout of the output, when deepscope can read it

    @property
    def layout(self) -> str | None:
        """The layout in words (`LayerSpec.describe`), e.g. `map 112x14x14`; None when unreadable."""
        return self.spec.describe() if self.spec else None


def readable_spec(name: str, shape: tuple | None, prefix_tokens: int | None, per_image: bool = True) -> LayerSpec | None:
    """The layout of an output of shape `shape` for a square probe image, or None: not run, an output
    whose batch axis is not the images' (Swin's attention windows), a non-square "map" (attention's
    heads x tokens x dims), or not a map, tokens or a vector."""
    if shape is None or not per_image:
        return None
    try:
        spec = spec_from_shape(name, shape, prefix_tokens)
    except DeepscopeError:
        return None
    return None if spec.kind in ("map", "map_last") and spec.grid[0] != spec.grid[1] else spec


@torch.no_grad()
def trace_outputs(model: VisionModel, size: int | None = None) -> list[tuple[str, tuple | None, bool]]:
    """(module name, output shape without its first axis, whether that axis is the image batch) of
    every module call of one forward pass of one `size` x `size` image, in the order the calls finish
    (a module that runs twice appears twice)."""
    size = size or model.input_size
    order: list[tuple[str, tuple | None, bool]] = []

    def hook_for(name):
        def hook(_m, _i, out):
            tensor = first_tensor(out)
            shape = tuple(tensor.shape[1:]) if tensor is not None and tensor.dim() else None
            order.append((name, shape, tensor is not None and tensor.dim() > 0 and tensor.shape[0] == 1))
        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in model.net.named_modules() if name]
    try:
        model(torch.full((1, 3, size, size), 0.5, device=model.device))
    finally:
        for h in handles:
            h.remove()
    return order


def list_layers(model: VisionModel, size: int | None = None) -> list[LayerInfo]:
    """Every named module with its output shape for one `size`x`size` image (one forward pass)."""
    shapes: dict[str, tuple] = {}
    calls: dict[str, int] = {}
    per_image: dict[str, bool] = {}
    for name, shape, batch_axis in trace_outputs(model, size):
        calls[name] = calls.get(name, 0) + 1
        if shape is not None:
            shapes[name], per_image[name] = shape, batch_axis
    named = [(n, m) for n, m in model.net.named_modules() if n]
    reverse_alias = {v: k for k, v in model.aliases.items()}
    prefix_tokens = getattr(model.net, "num_prefix_tokens", None)
    return [LayerInfo(n, type(m).__name__, shapes.get(n), calls.get(n, 0), reverse_alias.get(n),
                      readable_spec(n, shapes.get(n), prefix_tokens, per_image.get(n, True))) for n, m in named]


@torch.no_grad()
def layer_shape(model: VisionModel, name: str, size: int | None = None) -> tuple:
    """Output shape of one layer for one `size`x`size` image (e.g. (112, 14, 14))."""
    from deepscope.models.capture import activations

    size = size or model.input_size
    return tuple(activations(model, torch.full((1, 3, size, size), 0.5, device=model.device), [name])[name].shape[1:])


def check_channels(model: VisionModel, layer: str, channels, size: int | None = None) -> int:
    """Number of channels of `layer`; a clear error if any of `channels` is out of range."""
    return layer_spec(model, layer, size).check_channels(channels)


_SKIP_KINDS = ("ReLU", "ReLU6", "SiLU", "GELU", "Identity", "Dropout", "BatchNorm2d", "BatchNormAct2d",
               "Hardswish", "Sigmoid", "Flatten", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
               "SelectAdaptivePool2d")


def suggest_layers(model: VisionModel, count: int = 5) -> list[str]:
    """A spread of block-level layers (e.g. `blocks.1`..`blocks.6`) for an overview of the model."""
    infos = list_layers(model)
    candidates = [i.name for i in infos
                  if i.spec is not None and i.spec.spatial and i.calls == 1 and i.name.count(".") <= 1
                  and i.kind not in _SKIP_KINDS and not i.name.endswith((".act", ".drop"))]
    by_depth = [[n for n in candidates if n.count(".") == d] for d in (0, 1)]
    blocks = next((names for names in by_depth if len(names) >= count), max(by_depth, key=len))
    if len(blocks) <= count:
        return blocks
    step = (len(blocks) - 1) / (count - 1) if count > 1 else 0
    picked = [blocks[round(i * step)] for i in range(count)]
    return list(dict.fromkeys(picked))
