"""Give every rectifier a model uses (ReLU, ReLU6, functional or module) another backward rule.

Rules:
- `redirected`: Lucid's redirected ReLU gradient; where the true gradient of an image is zero
  everywhere, pass the gradient that would move a dead unit towards the active range.
- `guided`: guided backprop, relu(grad_out) masked by the forward activation.
- `deconvnet`: Zeiler & Fergus, relu(grad_out) regardless of the forward mask.

The override works through a `TorchFunctionMode`, so it also catches `F.relu` calls inside
`forward` methods, which module hooks (and captum) cannot see.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

RULES = ("redirected", "guided", "deconvnet")


def _per_image_nonzero(grad: torch.Tensor) -> torch.Tensor:
    return grad.flatten(1).abs().amax(1).gt(0).view(-1, *([1] * (grad.dim() - 1)))


class _Rectify(torch.autograd.Function):
    """clamp(x, low, high) forward with a replaceable backward rule (high may be None)."""

    @staticmethod
    def forward(ctx, x, low, high, rule):
        ctx.save_for_backward(x)
        ctx.low, ctx.high, ctx.rule = low, high, rule
        return x.clamp(min=low, max=high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":
            return grad.clamp(min=0), None, None, None
        if ctx.rule == "guided":  # relu(grad) where low < x < high, in one fused kernel after the clamp
            if ctx.high is None:
                return torch.ops.aten.threshold_backward(grad.clamp(min=0), x, ctx.low), None, None, None
            return torch.ops.aten.hardtanh_backward(grad.clamp(min=0), x, ctx.low, ctx.high), None, None, None
        inside = x > ctx.low
        if ctx.high is not None:
            inside = inside & (x < ctx.high)
        # redirected: grad is dL/dy of a loss being minimized; grad < 0 means "raise y".
        true_grad = grad * inside
        blocked = (x <= ctx.low) & (grad > 0)
        if ctx.high is not None:
            blocked = blocked | ((x >= ctx.high) & (grad < 0))
        redirected = grad.masked_fill(blocked, 0.0)
        if true_grad.dim() == 0:
            return true_grad, None, None, None
        return torch.where(_per_image_nonzero(true_grad), true_grad, redirected), None, None, None


def bounds(func, args, kwargs):
    """(input, low, high) if `func` is a rectifier call, else None."""
    if func in (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_):
        return args[0], 0.0, None
    if func is F.relu6:
        return args[0], 0.0, 6.0
    if func is F.hardtanh:
        low = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
        high = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
        if low == 0.0:
            return args[0], 0.0, high
    return None


class override_rectifiers(TorchFunctionMode):
    """`with override_rectifiers("guided"): model(x).backward(...)`; see the module docstring.

    `calls` counts the rectifier calls seen (0 after a forward pass: the model has none, e.g. a ViT)."""

    def __init__(self, rule: str):
        if rule not in RULES:
            raise ValueError(f"unknown rectifier rule {rule!r}; choose one of {', '.join(RULES)}")
        super().__init__()
        self.rule = rule
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        found = bounds(func, args, kwargs)
        self.calls += found is not None
        if found is not None and isinstance(found[0], torch.Tensor) and torch.is_grad_enabled():
            x, low, high = found
            return _Rectify.apply(x, low, high, self.rule)
        return func(*args, **kwargs)
