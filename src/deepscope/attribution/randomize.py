"""Cascading randomization (Adebayo et al. 2018): re-initialize a model's layers from the logits down.

Stages are the network's top-level parameterized children in forward order, with containers of
blocks (`blocks`, `features`, `layer4` ...) split into their blocks and a lone normalization layer
(`bn1`, `bn2`) merged into the layer before it. Randomizing stage k re-draws every weight of that
stage from a Gaussian with the trained tensor's own mean and standard deviation, so activations keep
their scale (a dead or exploding random network would make every map trivially different).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from deepscope.models.vision_model import VisionModel

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
_CONTAINERS = (nn.Sequential, nn.ModuleList)


@dataclass
class Stage:
    name: str  # e.g. "blocks.6" or "conv_stem+bn1"
    modules: list[str]  # module names inside model.net


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, _NORMS) and not any(_has_params(c) and not isinstance(c, _NORMS)
                                                  for c in module.children())


def randomization_stages(model: VisionModel) -> list[Stage]:
    """The model's stages in forward (definition) order, bottom (input) first."""
    stages: list[Stage] = []
    for name, child in model.net.named_children():
        if not _has_params(child):
            continue
        parts = [(f"{name}.{n}", c) for n, c in child.named_children() if _has_params(c)]
        if isinstance(child, _CONTAINERS) and len(parts) >= 2:
            stages.extend(Stage(n, [n]) for n, _ in parts)
        elif _is_norm(child) and stages:
            stages[-1] = Stage(f"{stages[-1].name}+{name}", stages[-1].modules + [name])
        else:
            stages.append(Stage(name, [name]))
    return stages


@torch.no_grad()
def randomize_stage(model: VisionModel, stage: Stage, generator: torch.Generator) -> None:
    """Re-draw every parameter of `stage` (in place) from N(mean, std) of its trained values."""
    modules = dict(model.net.named_modules())
    for module_name in stage.modules:
        for param in modules[module_name].parameters():
            mean, std = param.float().mean(), param.float().std() if param.numel() > 1 else 0.0
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            param.copy_((noise * std + mean).to(param.device, param.dtype))


def cascade(model: VisionModel, seed: int = 0):
    """Yield (stage, randomized copy) from the logits down; the copy accumulates every stage so far.

    The trained `model` is never touched: one deep copy is randomized step by step.
    """
    generator = torch.Generator().manual_seed(seed)
    randomized = copy.deepcopy(model).eval()
    for stage in reversed(randomization_stages(model)):
        randomize_stage(randomized, stage, generator)
        yield stage, randomized
