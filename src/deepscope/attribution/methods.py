"""Saliency methods, each a thin call into captum, in a registry that users can extend.

captum's GuidedBackprop and Deconvolution replace the backward of `nn.ReLU` modules only; on a
model with ReLU6 (the embedded EfficientNet-Lite) or functional `F.relu` they silently return the
plain gradient. Here both run captum's `Saliency` inside `override_rectifiers(...)`, which gives
every rectifier (ReLU, ReLU6, functional relu, hardtanh(0, x)) the method's backward rule.
Grad-CAM runs on the layer's canonical (B, C, h, w) grid (`models.layout`), so it reads token and
channels-last layers too; on a feature map it gives captum's `LayerGradCam` numbers exactly.

A method is `run(forward, images, target, options) -> (B, C, H, W)`: `forward(images)` returns the
(B, classes) logits with `target` the (B,) class indices, or, when an objective is explained, one
score per image (B,) with `target` None (captum takes both). `options` are the method's defaults
updated with the caller's; a method with `uses_layer` also gets `layer` (name) and `module`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from captum.attr import (
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

from deepscope.attribution.cam_layer import output_spec
from deepscope.attribution.rollout import SUMMARY as ROLLOUT_SUMMARY
from deepscope.attribution.rollout import attention_rollout
from deepscope.errors import DeepscopeError, unknown_name_error
from deepscope.models.capture import first_tensor
from deepscope.models.rectifiers import override_rectifiers
from deepscope.registry import Registry


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable  # (forward, images, target, options) -> (B, C, H, W) attribution
    summary: str
    uses_layer: bool = False
    defaults: dict = field(default_factory=dict)
    display: str = "abs"  # how a picture shows it: "abs" (sum_c |a|) or "positive" (relu of sum_c a)
    objectives: bool = True  # can explain a render objective (forward returns (B,) scores, target None)
    only_for: str = ""  # the models it needs when not every model ("attention models"); not in method_names()


def _gradient(forward, images, target, opts):
    return Saliency(forward).attribute(images, target=target, abs=False)


def _gradient_x_input(forward, images, target, opts):
    return InputXGradient(forward).attribute(images, target=target)


def _smoothgrad(forward, images, target, opts):
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        torch.manual_seed(opts["seed"])
        return NoiseTunnel(Saliency(forward)).attribute(
            images, nt_type="smoothgrad", nt_samples=opts["samples"], nt_samples_batch_size=opts["batch"],
            stdevs=opts["noise"], target=target, abs=False)


def _integrated_gradients(forward, images, target, opts):
    return IntegratedGradients(forward).attribute(
        images, baselines=opts["baseline"], target=target, n_steps=opts["steps"],
        internal_batch_size=opts["batch"] * images.shape[0])


def _guided_backprop(forward, images, target, opts):
    with override_rectifiers("guided"):
        return Saliency(forward).attribute(images, target=target, abs=False)


def _deconvnet(forward, images, target, opts):
    with override_rectifiers("deconvnet"):
        return Saliency(forward).attribute(images, target=target, abs=False)


def _layer_output_and_gradient(forward, images, target, module):
    """The module's output for `images` and the gradient of the target scores with respect to it."""
    saved = []

    def keep(_m, _i, out):
        saved.append(first_tensor(out))
        return out.clone() if saved[-1] is out else None  # a later in-place op leaves the saved output alone

    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            scores = forward(images)
    finally:
        handle.remove()
    if not saved or saved[-1] is None:
        raise DeepscopeError("Grad-CAM: the layer gave no tensor output for these images; give another layer")
    scores = scores if target is None else scores.gather(1, target.reshape(-1, 1))
    return saved[-1], torch.autograd.grad(torch.unbind(scores), saved[-1])[0]


def _grad_cam_map(forward, images, target, opts):
    """Grad-CAM on the layer's canonical (B, C, h, w) grid (a token layer's patches, a channels-last map
    permuted): relu(sum_c w_c * grid_c), w_c the mean over the grid of d score / d grid_c, upsampled."""
    output, gradient = _layer_output_and_gradient(forward, images, target, opts["module"])
    spec = output_spec(opts["layer"], opts["module"], output)
    weights = torch.mean(spec.grid_view(gradient), dim=(2, 3), keepdim=True)
    cam = torch.relu(torch.sum(weights * spec.grid_view(output), dim=1, keepdim=True))
    return LayerAttribution.interpolate(cam, tuple(images.shape[2:]), interpolate_mode="bilinear")


def _guided_grad_cam(forward, images, target, opts):
    return _guided_backprop(forward, images, target, opts) * _grad_cam_map(forward, images, target, opts)


def _occlusion(forward, images, target, opts):
    side = min(images.shape[2:])
    window = opts["window"] or max(4, side // 8)
    stride = opts["stride"] or max(1, window // 2)
    return Occlusion(forward).attribute(
        images, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
        baselines=opts["baseline"], target=target, perturbations_per_eval=opts["batch"])


METHODS = Registry("saliency method")
ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-").replace(" ", "-").replace("×", "-x-")


def register_method(name: str, fn_or_spec: Callable | Method | None = None, *, summary: str = "",
                    uses_layer: bool = False, defaults: dict | None = None, display: str = "abs",
                    objectives: bool = True, aliases: tuple[str, ...] = (), replace: bool = False):
    """Register a saliency method under `name` (then `attribute(..., method=name)`, `--method name`).

    `fn_or_spec` is a `Method` or a function `run(forward, images, target, options)` (see the module
    doc); the keywords describe a function. Without it, a decorator that registers what it decorates.
    """
    if fn_or_spec is None:
        return lambda fn: register_method(name, fn, summary=summary, uses_layer=uses_layer, defaults=defaults,
                                          display=display, objectives=objectives, aliases=aliases, replace=replace)
    key = _key(name)
    if isinstance(fn_or_spec, Method):
        spec = dataclasses.replace(fn_or_spec, name=key)
    else:
        spec = Method(key, fn_or_spec, summary or (fn_or_spec.__doc__ or key).strip().splitlines()[0],
                      uses_layer, dict(defaults or {}), display, objectives)
    METHODS.register(key, spec, replace=replace)
    ALIASES.update({_key(alias): key for alias in aliases})
    return fn_or_spec


register_method("gradient", _gradient, summary="gradient of the class logit w.r.t. the pixels (Simonyan et al.)",
                aliases=("grad", "saliency", "vanilla"))
register_method("gradient-x-input", _gradient_x_input, summary="gradient times the input image",
                aliases=("gradxinput", "input-x-gradient", "gradient-input", "gxi"))
register_method("smoothgrad", _smoothgrad, summary="gradient averaged over noisy copies of the image (Smilkov et al.)",
                defaults={"samples": 25, "noise": 0.15, "batch": 8, "seed": 0})
register_method("integrated-gradients", _integrated_gradients,
                summary="path integral of gradients from a baseline image (Sundararajan et al.)",
                defaults={"steps": 32, "baseline": 0.0, "batch": 8}, aliases=("ig", "integrated-gradient"))
register_method("guided-backprop", _guided_backprop,
                summary="backward pass where every rectifier passes only positive gradients where it was active",
                aliases=("guided", "guided-backpropagation", "gbp"))
register_method("deconvnet", _deconvnet, summary="backward pass where every rectifier passes only positive gradients",
                aliases=("deconvolution", "deconv"))
register_method("grad-cam", _grad_cam_map, uses_layer=True, aliases=("gradcam",),
                summary="gradient-weighted class activation map of a layer (Selvaraju et al.)")
register_method("guided-grad-cam", _guided_grad_cam, uses_layer=True, aliases=("guided-gradcam", "ggc"),
                summary="guided backprop times the upsampled Grad-CAM map")
register_method("occlusion", _occlusion, summary="drop of the class logit when a grey square hides each region",
                defaults={"window": None, "stride": None, "baseline": 0.5, "batch": 16}, display="positive")
register_method("attention-rollout", Method("attention-rollout", attention_rollout, ROLLOUT_SUMMARY, objectives=False,
                                            only_for="attention models"), aliases=("rollout",))


def method_names(*, specific: bool = False) -> list[str]:
    """The methods for every model; with `specific`, also those for some models only (attention rollout)."""
    return [name for name, method in METHODS.items() if specific or not method.only_for]


def get_method(name: str) -> Method:
    """A method by name; case, `_` vs `-` and common aliases are forgiven."""
    key = _key(name)
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise unknown_name_error("saliency method", str(name), METHODS.names() + list(ALIASES),
                                 "methods: " + ", ".join(METHODS))
    return METHODS[key]


def parse_methods(text: str) -> list[str]:
    """'gradient,grad-cam' or 'all' -> canonical method names (clear error for unknown ones)."""
    names = [t for t in (s.strip() for s in str(text).split(",")) if t]
    if not names:
        raise DeepscopeError("--method names no method; methods: " + ", ".join(method_names()))
    if names == ["all"]:
        return method_names()
    return list(dict.fromkeys(get_method(n).name for n in names))


DEFAULT_BATCH = 8  # images per batch, for the folder jobs and the sanity checks
POSITIVE_OPTIONS = ("samples", "steps", "window", "stride")  # counts and sizes: at least 1


def check_options(options: dict | None) -> dict:
    """`options` without its None values; a clear error for a count or size below 1."""
    kept = {k: v for k, v in (options or {}).items() if v is not None}
    for key in POSITIVE_OPTIONS:
        if key in kept and kept[key] < 1:
            raise DeepscopeError(f"--{key} must be at least 1, got {kept[key]}")
    return kept


def method_options(method: Method, options: dict | None) -> dict:
    """The method's defaults updated with `options` (unknown keys are ignored: one dict serves all)."""
    return {**method.defaults, **{k: v for k, v in (options or {}).items() if v is not None}}
