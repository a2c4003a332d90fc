"""Deconvnet projection of single units (Zeiler & Fergus 2013).

Backward from one unit (all other activations of the layer zeroed) with every rectifier replaced by
the deconvnet rule (relu of the incoming gradient, the forward mask ignored), through ReLU6 and
functional relu as well (`override_rectifiers`). Max-pool switches and transposed convolutions are
the ordinary autograd backward. `rule=None` gives the plain gradient, for comparison.
A network with no such rectifier before the layer (a transformer's GELUs) has no deconvnet: the
projection would be the plain gradient, so it is a clear error (`deconv_problem` says so beforehand).
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

from deepscope.errors import DeepscopeError
from deepscope.models.capture import capture
from deepscope.models.layout import LayerSpec, layer_spec
from deepscope.models.rectifiers import override_rectifiers
from deepscope.models.vision_model import VisionModel
from deepscope.render.optimize import frozen


def _no_rectifiers_message(model: VisionModel, spec: LayerSpec) -> str:
    return (f"deconvnet projections need ReLU-family rectifiers (ReLU, ReLU6) between the input and the layer; "
            f"model {model.name!r} reaches layer {spec.layer!r} ({spec.describe()}) through none (GELU or other "
            "smooth activations, as in a transformer), so the projection would be the plain gradient. Leave the "
            "projections out (--deconv 0) or explain the unit with `deepscope saliency` (gradient, "
            "integrated-gradients, grad-cam)")


def deconv_problem(model: VisionModel, layer: str, size: int | None = None) -> str | None:
    """Why deconvnet projections do not apply to `layer` (no rectifier before it), or None when they do."""
    size = size or model.input_size
    counting = override_rectifiers("deconvnet")
    probe = torch.full((1, 3, size, size), 0.5, device=model.device, requires_grad=True)
    with frozen(model), counting, capture(model, [layer], truncate=True) as cap:
        cap(probe)
    return None if counting.calls else _no_rectifiers_message(model, layer_spec(model, layer, size))


def project_units(model: VisionModel, layer: str, images: torch.Tensor, channels: Sequence[int],
                  positions: Sequence[tuple[int, int]] | None = None, *, rule: str | None = "deconvnet",
                  batch_size: int = 16) -> torch.Tensor:
    """(n, 3, H, W) projection into input space of unit (channels[i], positions[i]) for images[i].

    `positions` are (y, x) in the layer's grid (`models.layout`; ignored for vector layers). A layer with
    no rectifier before it is a clear error for the deconvnet and guided rules.
    """
    spec = layer_spec(model, layer, images.shape[-1])
    spec.check_channels(channels)
    out = []
    context = override_rectifiers(rule) if rule else contextlib.nullcontext()
    with frozen(model), context, capture(model, [layer], truncate=True, canonical=True) as cap:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(model.device).clone().requires_grad_(True)
            n = len(x)
            act = cap(x)[layer]
            if rule and not context.calls:
                raise DeepscopeError(_no_rectifiers_message(model, spec))
            rows = torch.arange(n, device=act.device)
            chans = torch.as_tensor(list(channels[start:start + n]), device=act.device)
            if not spec.spatial:
                picked = act[rows, chans]
            else:
                pos = torch.as_tensor([tuple(p) for p in positions[start:start + n]], device=act.device)
                picked = act[rows, chans, pos[:, 0], pos[:, 1]]
            picked.sum().backward()
            out.append(x.grad.detach().cpu())
    return torch.cat(out) if out else torch.zeros(0, *images.shape[1:])


def projection_image(grad: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """A (3, H, W) projection shown as an image: mid-grey at zero, ±(the `percentile` of |value|)
    at black/white (a few extreme pixels would otherwise leave the rest flat grey)."""
    values = grad.abs().flatten().float()
    peak = torch.quantile(values[values > 0], percentile / 100) if (values > 0).any() else torch.tensor(1.0)
    return (0.5 + 0.5 * grad / peak.clamp_min(1e-12)).clamp(0, 1)
