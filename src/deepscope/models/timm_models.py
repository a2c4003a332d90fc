"""timm and torchvision architectures: built to take any input size where they can, else marked fixed.

timm's ViT family (ViT, DeiT, DINOv2 with registers, the `*_clip_*` towers, EVA ...) and Swin are
created with `dynamic_img_size=True` (position embeddings interpolated to the input) and their patch
embeddings pad inputs to a multiple of the patch size, so renders work at any size. A model that only
takes the size it was built for (timm's `fixed_input_size` without a dynamic size, torchvision's ViT and
MaxViT) gets `fixed_size`, which `VisionModel.accepted_size` turns into a note instead of an assertion.
"""
from __future__ import annotations

from typing import NamedTuple

from torch import nn

DYNAMIC_SIZE = ({"dynamic_img_size": True, "dynamic_img_pad": True}, {"dynamic_img_size": True}, {})


class Architecture(NamedTuple):
    """A built network with what `VisionModel` needs to know about its input."""

    net: nn.Module
    mean: tuple
    std: tuple
    size: int
    fixed_size: int | None = None  # the only input size the network takes, when it takes one only


def create_timm(name: str, pretrained: bool) -> nn.Module:
    """`timm.create_model(name)` with a dynamic image size where the architecture accepts one."""
    import timm

    for extra in DYNAMIC_SIZE:
        try:
            net = timm.create_model(name, pretrained=pretrained, **extra)
            break
        except TypeError as err:
            if not extra or "dynamic_img" not in str(err):
                raise
    if not _fixed_by_config(net):
        for module in net.modules():
            if getattr(module, "strict_img_size", True) is False and hasattr(module, "dynamic_img_pad"):
                module.dynamic_img_pad = True  # any size: pad to a multiple of the patch size
    return net


def timm_architecture(net: nn.Module) -> Architecture:
    """Normalization, input size and fixed size of a timm network, from its pretrained config."""
    import timm

    cfg = timm.data.resolve_data_config({}, model=net)
    size = int(cfg["input_size"][-1])
    return Architecture(net, tuple(cfg["mean"]), tuple(cfg["std"]), size, size if _fixed_by_config(net) else None)


def _fixed_by_config(net: nn.Module) -> bool:
    """timm says the model needs its own input size, and it was not built with a dynamic one."""
    cfg = getattr(net, "pretrained_cfg", None) or {}
    strict = any(getattr(m, "strict_img_size", False) for m in net.modules())
    return strict or (bool(cfg.get("fixed_input_size")) and not getattr(net, "dynamic_img_size", False))


def torchvision_fixed_size(net: nn.Module, size: int) -> int | None:
    """`size` for torchvision networks that assert their input size (ViT, MaxViT), else None."""
    from torchvision.models import MaxVit, VisionTransformer

    return size if isinstance(net, (VisionTransformer, MaxVit)) else None
