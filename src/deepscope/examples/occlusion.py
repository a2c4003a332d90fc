"""Occlusion maps (Zeiler & Fergus 2013): a grey square slides over the image; at each position,
P(target class), the most likely label, and one channel's activation.

The square's top-left corner takes the positions 0, stride, 2·stride, ... while the square fits, so
the maps are (n, n) with n = (input_size - size) // stride + 1; map cell (i, j) is the square whose
top-left corner is (i·stride, j·stride). The paper gives no size or stride: both are options and are
reported with the maps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepscope.errors import DeepscopeError
from deepscope.models.capture import capture
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import LOGITS, VisionModel, require_finite


@dataclass
class OcclusionResult:
    image: torch.Tensor  # (3, S, S) the network input
    size: int
    stride: int
    fill: float
    target: int
    clean_prob: float  # P(target) without occlusion
    clean_top1: int
    prob: np.ndarray  # (n, n) P(target)
    label: np.ndarray  # (n, n) most likely class
    label_prob: np.ndarray  # (n, n) its probability
    layer: str | None = None
    channel: int | None = None
    clean_activation: float | None = None  # spatial max of the channel without occlusion
    activation_max: np.ndarray | None = None  # (n, n) spatial max of the channel
    activation_mean: np.ndarray | None = None  # (n, n) spatial mean of the channel

    @property
    def starts(self) -> list[int]:
        return occlusion_starts(self.image.shape[-1], self.size, self.stride)


def occlusion_starts(input_size: int, size: int, stride: int) -> list[int]:
    """Top-left coordinates of the square along one axis; a clear error for impossible settings."""
    if size < 1 or stride < 1:
        raise DeepscopeError(f"occlusion square size and stride must be at least 1 (got size {size}, stride {stride})")
    if size > input_size:
        raise DeepscopeError(f"occlusion square of {size} px does not fit the {input_size} px input: use --size "
                             f"at most {input_size}")
    return list(range(0, input_size - size + 1, stride))


def occlusion_maps(model: VisionModel, image: torch.Tensor, *, size: int, stride: int, target: int | None = None,
                   layer: str | None = None, channel: int | None = None, fill: float = 0.5,
                   batch_size: int = 32) -> OcclusionResult:
    """Occlusion maps for one (3, S, S) image in [0, 1]; `target` defaults to the top-1 class of the
    unoccluded image, `channel` (of `layer`) to its strongest channel there (as in the paper)."""
    starts = occlusion_starts(image.shape[-1], size, stride)
    if channel is not None and layer is None:
        raise DeepscopeError("--channel needs --layer (the layer the channel belongs to)")
    layers = [LOGITS] + ([layer] if layer else [])
    corners = [(y, x) for y in starts for x in starts]
    probs, acts_max, acts_mean = [], [], []
    spec = layer_spec(model, layer, image.shape[-1]) if layer else None
    with torch.no_grad(), capture(model, layers, detach=True, canonical=True) as cap:
        clean = cap(image[None].to(model.device))
        require_finite(clean[LOGITS], f"the logits of {model.name}")
        clean_probs = clean[LOGITS].softmax(1)[0].cpu()
        if target is None:
            target = int(clean_probs.argmax())
        if not 0 <= target < len(clean_probs):
            raise DeepscopeError(f"class {target} is out of range: the model has {len(clean_probs)} classes")
        clean_act = None
        if layer:
            act = _spatial(clean[layer])[0]
            if channel is None:
                channel = int(act.flatten(1).amax(1).argmax())
            spec.check_channels([channel])
            clean_act = float(act[channel].max())
        for begin in range(0, len(corners), batch_size):
            part = corners[begin:begin + batch_size]
            batch = image[None].repeat(len(part), 1, 1, 1)
            for b, (y, x) in enumerate(part):
                batch[b, :, y:y + size, x:x + size] = fill
            out = cap(batch.to(model.device))
            require_finite(out[LOGITS], f"the logits of {model.name}")
            probs.append(out[LOGITS].softmax(1).cpu())
            if layer:
                maps = _spatial(out[layer])[:, channel].flatten(1).cpu()
                acts_max.append(maps.amax(1))
                acts_mean.append(maps.mean(1))
    n = len(starts)
    prob = torch.cat(probs)
    top_prob, top = prob.max(1)
    grid = (n, n)
    return OcclusionResult(
        image=image.cpu(), size=size, stride=stride, fill=fill, target=target,
        clean_prob=float(clean_probs[target]), clean_top1=int(clean_probs.argmax()),
        prob=prob[:, target].view(grid).numpy(), label=top.view(grid).numpy(), label_prob=top_prob.view(grid).numpy(),
        layer=layer, channel=channel, clean_activation=clean_act,
        activation_max=torch.cat(acts_max).view(grid).numpy() if layer else None,
        activation_mean=torch.cat(acts_mean).view(grid).numpy() if layer else None)


def _spatial(act: torch.Tensor) -> torch.Tensor:
    """Canonical activations as (B, C, h, w) (a vector layer becomes 1 x 1)."""
    return act[:, :, None, None] if act.dim() == 2 else act
