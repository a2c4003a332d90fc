"""Receptive fields measured on the network itself: the input support of a unit's gradient.

Every rectifier (ReLU, ReLU6, hardtanh, hard-swish, ...) passes the gradient straight through and
max-pooling spreads it over its whole window, so no unit that happens to be off hides part of the
field: the support is then the set of input pixels that can influence the unit at all (the
theoretical receptive field, clipped to the image; `Conv2dSame`-style asymmetric padding included).
Positions are on the layer's canonical grid (`models.layout`: a map's, or a token layer's patches).
Convolutional fields are separable, so one backward pass per diagonal position of the layer's grid
gives the input rows of every grid row and the input columns of every grid column. Results are
cached on the model per (layer, input size).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from deepscope.models.capture import capture
from deepscope.models.layout import layer_spec
from deepscope.models.rectifiers import bounds
from deepscope.models.vision_model import VisionModel
from deepscope.render.optimize import frozen

_STRAIGHT_THROUGH = {F.hardswish, F.hardsigmoid, F.silu, F.gelu, F.elu, F.leaky_relu, F.mish, torch.sigmoid,
                     torch.Tensor.sigmoid, torch.tanh, F.softplus}


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return y.detach().clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class linearized(TorchFunctionMode):
    """Rectifiers and other pointwise nonlinearities pass gradients unchanged; max-pool passes
    them to every element of its window (as average pooling would). Forward values are unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not torch.is_grad_enabled():
            return func(*args, **kwargs)
        found = bounds(func, args, kwargs)
        if (found is not None or func in _STRAIGHT_THROUGH) and isinstance(args[0], torch.Tensor):
            x = args[0]
            kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
            with torch.no_grad():
                y = func(x, *args[1:], **kwargs) if found is None else x.clamp(min=found[1], max=found[2])
            return _StraightThrough.apply(x, y)
        if func in (F.max_pool2d, torch.max_pool2d) and isinstance(args[0], torch.Tensor):
            out = func(*args, **kwargs)
            if isinstance(out, tuple):
                return out
            params = dict(zip(("kernel_size", "stride", "padding", "dilation", "ceil_mode"), args[1:]))
            params.update({k: v for k, v in kwargs.items() if k != "return_indices"})
            if params.pop("dilation", 1) not in (1, (1, 1)):
                return out
            avg = F.avg_pool2d(args[0], params.pop("kernel_size"), params.pop("stride", None),
                               params.pop("padding", 0), params.pop("ceil_mode", False))
            return avg + (out - avg).detach()
        return func(*args, **kwargs)


@dataclass
class ReceptiveField:
    """Input box of every position of a layer's (H, W) grid, for `input_size` square inputs.

    `rows[i] = (y0, y1)` are the input rows that grid row `i` sees (half-open), `cols[j]` likewise.
    """

    layer: str
    input_size: int
    rows: np.ndarray  # (H, 2)
    cols: np.ndarray  # (W, 2)

    @property
    def grid(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in input pixels, half-open, for grid position (y, x)."""
        return int(self.cols[x, 0]), int(self.rows[y, 0]), int(self.cols[x, 1]), int(self.rows[y, 1])

    @property
    def size(self) -> int:
        """The largest extent of the field (in the middle of the grid, where it is not clipped)."""
        return int(max((self.rows[:, 1] - self.rows[:, 0]).max(), (self.cols[:, 1] - self.cols[:, 0]).max()))

    @property
    def stride(self) -> float:
        """Input pixels between neighbouring grid rows, from field edges the image does not clip
        (the image size over the grid size when every field is clipped)."""
        starts, ends = self.rows[:, 0], self.rows[:, 1]
        steps = [b - a for a, b in itertools.pairwise(starts) if a > 0 and b > 0]
        steps += [b - a for a, b in itertools.pairwise(ends) if a < self.input_size and b < self.input_size]
        return float(np.median(steps)) if steps else self.input_size / len(self.rows)

    def to_json(self) -> dict:
        return {"layer": self.layer, "input_size": self.input_size, "grid": list(self.grid), "size": self.size,
                "stride": self.stride, "method": "gradient support (rectifiers linearized)",
                "rows": self.rows.tolist(), "cols": self.cols.tolist()}


def _extents(mask: torch.Tensor) -> np.ndarray:
    """(n, 2) first and one-past-last True index of each row of a (n, L) mask (0, L if empty)."""
    length = mask.shape[1]
    idx = torch.arange(length)
    first = torch.where(mask, idx, length).amin(1)
    last = torch.where(mask, idx, -1).amax(1) + 1
    empty = ~mask.any(1)
    first[empty], last[empty] = 0, length
    return torch.stack([first, last], 1).numpy()


def gradient_support(model: VisionModel, layer: str, positions: list[tuple[int, int]], size: int,
                     seed: int = 0) -> torch.Tensor:
    """(n, size, size) boolean masks: the input pixels that unit (any channel) at each position sees."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(len(positions), 3, size, size, generator=generator).to(model.device).requires_grad_(True)
    spatial = layer_spec(model, layer, size).spatial
    with frozen(model), linearized(), capture(model, [layer], truncate=True, canonical=True) as cap:
        act = cap(images)[layer]
        if not spatial:
            picked = act
        else:
            ys = torch.tensor([p[0] for p in positions], device=act.device)
            xs = torch.tensor([p[1] for p in positions], device=act.device)
            picked = act[torch.arange(len(positions), device=act.device), :, ys, xs]
        # A random positive weight per channel: no exact cancellation between channels.
        weights = torch.rand(picked.shape[1], generator=generator).to(picked.device) + 0.5
        (picked * weights).sum().backward()
    return images.grad.detach().abs().sum(1).gt(0).cpu()


def receptive_field(model: VisionModel, layer: str, size: int | None = None, chunk: int = 16) -> ReceptiveField:
    """The receptive field of every position of `layer` for `size`-pixel inputs (cached on the model)."""
    size = size or model.input_size
    key = (model.resolve(layer), size)
    cache = model.__dict__.setdefault("_receptive_fields", {})
    if key in cache:
        found = cache[key]
        return ReceptiveField(layer, size, found.rows, found.cols)
    spec = layer_spec(model, layer, size)
    height, width = spec.grid if spec.spatial else (1, 1)
    diagonal = [(min(p, height - 1), min(p, width - 1)) for p in range(max(height, width))]
    rows, cols = np.zeros((height, 2), dtype=np.int64), np.zeros((width, 2), dtype=np.int64)
    for start in range(0, len(diagonal), chunk):
        part = diagonal[start:start + chunk]
        masks = gradient_support(model, layer, part, size)
        row_ext, col_ext = _extents(masks.any(2)), _extents(masks.any(1))
        for (y, x), r, c in zip(part, row_ext, col_ext):
            rows[y], cols[x] = r, c
    field = ReceptiveField(layer, size, rows, cols)
    cache[key] = field
    return field
