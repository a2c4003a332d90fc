"""Saliency methods, each a thin call into captum.

captum's GuidedBackprop and Deconvolution replace the backward of `nn.ReLU` modules only; on a
model with ReLU6 (the embedded EfficientNet-Lite) or functional `F.relu` they silently return the
plain gradient. Here both run captum's `Saliency` inside `override_rectifiers(...)`, which gives
every rectifier (ReLU, ReLU6, functional relu, hardtanh(0, x)) the method's backward rule.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from captum.attr import (
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

from deepscope.attribution.cam_layer import cam_layer
from deepscope.errors import unknown_name_error
from deepscope.models.rectifiers import override_rectifiers


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable  # (model, images, targets, options) -> (B, C, H, W) attribution
    summary: str
    uses_layer: bool = False
    defaults: dict = field(default_factory=dict)
    display: str = "abs"  # how a picture shows it: "abs" (sum_c |a|) or "positive" (relu of sum_c a)


def _gradient(model, images, targets, opts):
    return Saliency(model).attribute(images, target=targets, abs=False)


def _gradient_x_input(model, images, targets, opts):
    return InputXGradient(model).attribute(images, target=targets)


def _smoothgrad(model, images, targets, opts):
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        torch.manual_seed(opts["seed"])
        return NoiseTunnel(Saliency(model)).attribute(
            images, nt_type="smoothgrad", nt_samples=opts["samples"], nt_samples_batch_size=opts["batch"],
            stdevs=opts["noise"], target=targets, abs=False)


def _integrated_gradients(model, images, targets, opts):
    return IntegratedGradients(model).attribute(
        images, baselines=opts["baseline"], target=targets, n_steps=opts["steps"],
        internal_batch_size=opts["batch"] * images.shape[0])


def _guided_backprop(model, images, targets, opts):
    with override_rectifiers("guided"):
        return Saliency(model).attribute(images, target=targets, abs=False)


def _deconvnet(model, images, targets, opts):
    with override_rectifiers("deconvnet"):
        return Saliency(model).attribute(images, target=targets, abs=False)


def _grad_cam_map(model, images, targets, opts):
    _, module = cam_layer(model, opts.get("layer"))
    cam = LayerGradCam(model, module).attribute(images, target=targets, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(images.shape[2:]), interpolate_mode="bilinear")


def _guided_grad_cam(model, images, targets, opts):
    return _guided_backprop(model, images, targets, opts) * _grad_cam_map(model, images, targets, opts)


def _occlusion(model, images, targets, opts):
    side = min(images.shape[2:])
    window = opts["window"] or max(4, side // 8)
    stride = opts["stride"] or max(1, window // 2)
    return Occlusion(model).attribute(
        images, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
        baselines=opts["baseline"], target=targets, perturbations_per_eval=opts["batch"])


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("gradient", _gradient, "gradient of the class logit w.r.t. the pixels (Simonyan et al.)"),
    Method("gradient-x-input", _gradient_x_input, "gradient times the input image"),
    Method("smoothgrad", _smoothgrad, "gradient averaged over noisy copies of the image (Smilkov et al.)",
           defaults={"samples": 25, "noise": 0.15, "batch": 8, "seed": 0}),
    Method("integrated-gradients", _integrated_gradients,
           "path integral of gradients from a baseline image (Sundararajan et al.)",
           defaults={"steps": 32, "baseline": 0.0, "batch": 8}),
    Method("guided-backprop", _guided_backprop,
           "backward pass where every rectifier passes only positive gradients where it was active"),
    Method("deconvnet", _deconvnet, "backward pass where every rectifier passes only positive gradients"),
    Method("grad-cam", _grad_cam_map, "gradient-weighted class activation map of a layer (Selvaraju et al.)",
           uses_layer=True),
    Method("guided-grad-cam", _guided_grad_cam, "guided backprop times the upsampled Grad-CAM map",
           uses_layer=True),
    Method("occlusion", _occlusion, "drop of the class logit when a grey square hides each region",
           defaults={"window": None, "stride": None, "baseline": 0.5, "batch": 16}, display="positive"),
]}

ALIASES = {
    "grad": "gradient", "saliency": "gradient", "vanilla": "gradient",
    "gradxinput": "gradient-x-input", "input-x-gradient": "gradient-x-input", "gradient-input": "gradient-x-input",
    "gxi": "gradient-x-input", "ig": "integrated-gradients", "integrated-gradient": "integrated-gradients",
    "guided": "guided-backprop", "guided-backpropagation": "guided-backprop", "gbp": "guided-backprop",
    "deconvolution": "deconvnet", "deconv": "deconvnet", "gradcam": "grad-cam", "guided-gradcam": "guided-grad-cam",
    "ggc": "guided-grad-cam",
}


def method_names() -> list[str]:
    return list(METHODS)


def get_method(name: str) -> Method:
    """A method by name; case, `_` vs `-` and common aliases are forgiven."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-").replace("×", "-x-")
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise unknown_name_error("saliency method", str(name), list(METHODS) + list(ALIASES),
                                 "methods: " + ", ".join(METHODS))
    return METHODS[key]


def method_options(method: Method, options: dict | None) -> dict:
    """The method's defaults updated with `options` (unknown keys are ignored: one dict serves all)."""
    merged = dict(method.defaults)
    for key, value in (options or {}).items():
        if value is not None:
            merged[key] = value
    return merged
