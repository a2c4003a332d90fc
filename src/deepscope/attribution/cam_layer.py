"""Which layer Grad-CAM looks at: a layer chosen by name, or the last spatial layer, and its layout."""
from __future__ import annotations

import weakref

import torch
from torch import nn

from deepscope.errors import DeepscopeError
from deepscope.models.layers import readable_spec, trace_outputs
from deepscope.models.layout import SPATIAL, LayerSpec, require_layout, spec_from_shape
from deepscope.models.vision_model import VisionModel

_FOUND: weakref.WeakKeyDictionary[VisionModel, str] = weakref.WeakKeyDictionary()
_MODULES: weakref.WeakKeyDictionary[VisionModel, dict] = weakref.WeakKeyDictionary()
_SPECS: weakref.WeakKeyDictionary[nn.Module, LayerSpec] = weakref.WeakKeyDictionary()


def last_conv_layer(model: VisionModel) -> str:
    """Name of the network's last spatial layer before global pooling (found once per model)."""
    if model not in _FOUND:
        _FOUND[model] = _find_last_conv_layer(model)
    return _FOUND[model]


@torch.no_grad()
def _find_last_conv_layer(model: VisionModel, size: int = 64) -> str:
    """Name of the last module to finish (in execution order) with a spatial output (a map, a
    channels-last map or patch tokens) on a grid of more than one cell.

    That is the network's last feature map before global pooling: `bn2` of an EfficientNet
    (conv_head + norm + activation), `layer4` of a ResNet, `inception5b` of GoogLeNet, the last
    block (or final norm) of a ViT.
    """
    prefix = getattr(model.net, "num_prefix_tokens", None)
    order = [(name, readable_spec(name, shape, prefix, one)) for name, shape, one in trace_outputs(model, size)]
    spatial = [name for name, spec in order if spec is not None and spec.spatial and spec.grid[0] * spec.grid[1] > 1]
    if not spatial:
        raise DeepscopeError(f"model {model.name!r} has no layer with a spatial output; give --layer")
    return spatial[-1]


def cam_layer(model: VisionModel, layer: str | None) -> tuple[str, nn.Module]:
    """(name, module) for Grad-CAM: `layer` resolved (aliases work), or `last_conv_layer`.

    A layer without a grid (a pooled vector, the logits) is a clear error."""
    if layer is None:
        layer = last_conv_layer(model)
    modules = _MODULES.setdefault(model, {})
    if layer not in modules:  # resolving walks every module: once per model and name
        spec = require_layout(model, layer, *SPATIAL, method="Grad-CAM")
        modules[layer] = model.module(layer)
        _SPECS[modules[layer]] = spec
    return layer, modules[layer]


def output_spec(layer: str, module: nn.Module, output: torch.Tensor) -> LayerSpec:
    """The layout of `output`, the (B, ...) output of `module`: the grid read from its shape, a token
    layer's prefix as `cam_layer` found it; a clear error when it has no grid."""
    known = _SPECS.get(module)
    prefix = known.prefix if known is not None and known.kind == "tokens" else None
    return spec_from_shape(layer, tuple(output.shape[1:]), prefix).require(*SPATIAL, method="Grad-CAM")
