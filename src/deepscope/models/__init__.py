"""Models by name with preprocessing built in; layers by name; activation capture."""
from deepscope.models.capture import Capture, activations, capture
from deepscope.models.classes import imagenet_classes
from deepscope.models.layers import LayerInfo, check_channels, layer_shape, list_layers, suggest_layers
from deepscope.models.vision_model import LOGITS, VisionModel
from deepscope.models.zoo import DEFAULT_MODEL, available_models, from_module, load_model

__all__ = [
    "Capture", "activations", "capture", "imagenet_classes", "LayerInfo", "check_channels", "layer_shape", "list_layers", "suggest_layers", "LOGITS",
    "VisionModel", "DEFAULT_MODEL", "available_models", "from_module", "load_model",
]
