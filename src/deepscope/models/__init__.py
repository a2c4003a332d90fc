"""Models by name with preprocessing built in; layers by name; activation capture."""
from deepscope.models.capture import Capture, activations, capture
from deepscope.models.classes import imagenet_classes
from deepscope.models.layers import LayerInfo, check_channels, layer_shape, list_layers, suggest_layers
from deepscope.models.layout import LayerSpec, layer_spec
from deepscope.models.vision_model import INPUT, LOGITS, VisionModel
from deepscope.models.zoo import DEFAULT_MODEL, available_models, from_module, load_model

__all__ = [
    "DEFAULT_MODEL",
    "INPUT",
    "LOGITS",
    "Capture",
    "LayerInfo",
    "LayerSpec",
    "VisionModel",
    "activations",
    "available_models",
    "capture",
    "check_channels",
    "from_module",
    "imagenet_classes",
    "layer_shape",
    "layer_spec",
    "list_layers",
    "load_model",
    "suggest_layers",
]
