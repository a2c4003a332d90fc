"""Load models by name, each with its preprocessing built in (inputs are RGB in [0, 1])."""
from __future__ import annotations

import os

import torch
from torch import nn

from deepscope.errors import DeepscopeError, unknown_name_error
from deepscope.models.classes import classes_for
from deepscope.models.digits import DIGITS_MODELS, load_digits_model
from deepscope.models.efficientnet_lite import OFFLINE_MODELS, build_efficientnet_lite
from deepscope.models.heads import classifier_head
from deepscope.models.open_clip_models import build_open_clip, is_open_clip_name
from deepscope.models.timm_models import Architecture, create_timm, timm_architecture, torchvision_fixed_size
from deepscope.models.vision_model import VisionModel
from deepscope.models.weights import load_weights, read_state_dict

DEFAULT_MODEL = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# InceptionV1 layer names of the activation-atlas paper -> torchvision's GoogLeNet modules.
GOOGLENET_ALIASES = {
    f"mixed{block}": f"inception{block}" for block in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
}


def available_models() -> list[str]:
    """Names `load_model` knows: the offline ones first, then torchvision's and timm's."""
    import timm
    import torchvision

    offline = list(OFFLINE_MODELS) + list(DIGITS_MODELS)
    return offline + sorted(torchvision.models.list_models()) + timm.list_models()


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    pretrained: bool = True,
    device: str | torch.device | None = None,
) -> VisionModel:
    """A `VisionModel` for `name`, in eval mode, on `device` (default CPU).

    `name`: efficientnet_lite0/1 (offline), any torchvision or timm model name, or `open_clip:ARCH[:TAG]`
    (when open_clip is installed). `weights` is a local state-dict file, for machines that cannot
    download the usual weights; `pretrained=False` builds the architecture with random weights (the
    same ones on every call).
    """
    if name in DIGITS_MODELS:  # trained on scikit-learn's digits by scripts/train_digits.py, shipped
        return load_digits_model(name, weights=weights, pretrained=pretrained).to(device or "cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random weights (pretrained=False) are the same on every call
        arch = _build(name, weights, pretrained)
    aliases = GOOGLENET_ALIASES if name == "googlenet" else {}
    model = VisionModel(arch.net, arch.mean, arch.std, name=name, input_size=arch.size,
                        classes=classes_for(_num_outputs(arch.net)), aliases=aliases, fixed_size=arch.fixed_size)
    if weights is not None or not pretrained:
        model.weights_source = str(weights) if weights is not None else "random"
    return model.to(device or "cpu").eval()


def _build(name: str, weights, pretrained: bool) -> Architecture:
    if name in OFFLINE_MODELS and not pretrained and weights is None:
        return timm_architecture(create_timm("tf_" + name, False))  # the same network, random weights
    if name in OFFLINE_MODELS:
        arch = Architecture(*build_efficientnet_lite(name))
        if weights is not None:
            _load_file(arch.net, weights, name)
        return arch
    return _build_online(name, weights, pretrained)


def _build_online(name: str, weights, pretrained: bool) -> Architecture:
    """torchvision first, then timm, then open_clip; weights through their own download mechanisms."""
    import timm
    import torchvision

    fetch = pretrained and weights is None
    try:
        if name in torchvision.models.list_models():
            return _build_torchvision(name, fetch, weights)
        if timm.is_model(name) or is_open_clip_name(name):
            arch = build_open_clip(name, fetch) if is_open_clip_name(name) else timm_architecture(
                create_timm(name, fetch))
            if weights is not None:
                _load_file(arch.net, weights, name)
            return arch
    except DeepscopeError:
        raise
    except (OSError, RuntimeError) as err:
        if not fetch:
            raise DeepscopeError(f"could not load weights for {name!r}: {err}") from err
        raise DeepscopeError(
            f"could not fetch the pretrained weights of {name!r} ({type(err).__name__}: {err}). "
            "Without a network connection, download the state dict on another machine and pass it "
            "with --weights FILE (Python: load_model(name, weights=FILE)), or build the architecture "
            "with random weights: --no-pretrained (Python: pretrained=False)"
        ) from err
    raise unknown_name_error(
        "model", name, available_models(),
        "any torchvision or timm model name, efficientnet_lite0/1, or open_clip:ARCH with open_clip installed")


def _build_torchvision(name: str, fetch: bool, weights):
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    default = enum.DEFAULT
    kwargs = {}
    if name in ("googlenet", "inception_v3") and not fetch:
        # As torchvision builds them with pretrained weights: ImageNet normalization converted inside.
        kwargs = {"aux_logits": False, "init_weights": False, "transform_input": True}
    net = torchvision.models.get_model(name, weights=default if fetch else None, **kwargs)
    if weights is not None:
        _load_file(net, weights, name)
    preset = default.transforms()
    size = int(preset.crop_size[0]) if hasattr(preset, "crop_size") else 224
    mean = tuple(getattr(preset, "mean", IMAGENET_MEAN))
    std = tuple(getattr(preset, "std", IMAGENET_STD))
    return Architecture(net, mean, std, size, torchvision_fixed_size(net, size))


def _load_file(net: nn.Module, path, name: str) -> None:
    """The state dict of the file `path` into `net`, strictly (see `deepscope.models.weights`)."""
    load_weights(net, read_state_dict(path), name, f"weights file {str(path)!r}")


def _num_outputs(net: nn.Module) -> int | None:
    """Number of logits of a classifier (last Linear layer's outputs), if there is one."""
    head = classifier_head(net)
    return head[1].out_features if head is not None else None


def from_module(net: nn.Module, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs) -> VisionModel:
    """Wrap any `nn.Module` (taking normalized input) so that it takes RGB in [0, 1]."""
    return VisionModel(net, mean, std, **kwargs)
