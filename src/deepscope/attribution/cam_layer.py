"""Which layer Grad-CAM looks at: a layer chosen by name, or the last conv-like layer."""
from __future__ import annotations

import weakref

import torch
from torch import nn

from deepscope.errors import DeepscopeError
from deepscope.models.capture import first_tensor
from deepscope.models.vision_model import LOGITS, VisionModel

_FOUND: weakref.WeakKeyDictionary[VisionModel, str] = weakref.WeakKeyDictionary()
_MODULES: weakref.WeakKeyDictionary[VisionModel, dict] = weakref.WeakKeyDictionary()


def last_conv_layer(model: VisionModel) -> str:
    """Name of the network's last feature map before global pooling (found once per model)."""
    if model not in _FOUND:
        _FOUND[model] = _find_last_conv_layer(model)
    return _FOUND[model]


@torch.no_grad()
def _find_last_conv_layer(model: VisionModel, size: int = 64) -> str:
    """Name of the last module to finish (in execution order) with a spatial (B, C, H, W) output.

    That is the network's last feature map before global pooling: `bn2` of an EfficientNet
    (conv_head + norm + activation), `layer4` of a ResNet, `inception5b` of GoogLeNet.
    """
    order: list[tuple[str, tuple]] = []
    handles = []

    def hook_for(name):
        def hook(_m, _i, out):
            tensor = first_tensor(out)
            if tensor is not None and tensor.dim() == 4:
                order.append((name, tuple(tensor.shape)))
        return hook

    try:
        for name, module in model.net.named_modules():
            if name:
                handles.append(module.register_forward_hook(hook_for(name)))
        model(torch.full((1, 3, size, size), 0.5, device=model.device))
    finally:
        for handle in handles:
            handle.remove()
    spatial = [name for name, shape in order if shape[2] * shape[3] > 1]
    if not spatial:
        raise DeepscopeError(f"model {model.name!r} has no layer with a spatial output; give --layer")
    return spatial[-1]


def cam_layer(model: VisionModel, layer: str | None) -> tuple[str, nn.Module]:
    """(name, module) for Grad-CAM: `layer` resolved (aliases work), or `last_conv_layer`."""
    if layer is None:
        layer = last_conv_layer(model)
    if layer == LOGITS:
        raise DeepscopeError("Grad-CAM needs a convolutional layer, not the logits; give a layer name "
                             f"(run `deepscope layers --model {model.name}`)")
    modules = _MODULES.setdefault(model, {})
    if layer not in modules:  # resolving walks every module: once per model and name
        modules[layer] = model.module(layer)
    return layer, modules[layer]
