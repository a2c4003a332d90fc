"""Record activations of named layers; hooks are always removed, outputs are cloned."""
from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
from typing_extensions import Self

from deepscope.models.layout import prefix_key, spec_from_shape
from deepscope.models.vision_model import INPUT, LOGITS, VisionModel


class _StopForward(Exception):
    """Raised from a hook once every requested layer is captured, to skip the rest of the net."""


def first_tensor(output):
    """The tensor a module returned (first element of a tuple/list output)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


class Capture:
    """Context manager that records the outputs of named layers during each forward pass.

    `truncate=True` stops the forward once every layer is recorded (no logits are computed
    unless `logits` is one of the layers). Outputs are cloned, so a following in-place op
    (e.g. `ReLU(inplace=True)`) cannot change them; gradients still flow through the clones.
    A module that fires twice in one forward pass warns (its last output is kept).
    `canonical=True` hands out each layer in its canonical layout (`models.layout`): maps and patch
    tokens as (B, C, h, w), a token layer's prefix tokens apart under `prefix_key(layer)`.
    The input images are recorded too, as `"input"`, when asked for (image penalties read them).
    `inputs=True` records what each named module receives (its first input) instead of what it
    returns, e.g. the classifier's input, which some networks compute outside any named module.
    """

    def __init__(self, model: VisionModel, layers: Iterable[str], *, truncate: bool = False,
                 detach: bool = False, canonical: bool = False, inputs: bool = False):
        self.model = model
        self.names = list(dict.fromkeys(layers))
        self.resolved = {name: name if name == INPUT else model.resolve(name) for name in self.names}
        self.truncate = truncate and LOGITS not in self.names
        self.detach = detach
        self.canonical = canonical
        self.inputs = inputs
        self.prefix_tokens = getattr(model.net, "num_prefix_tokens", None)
        self.activations: dict[str, torch.Tensor] = {}
        self._handles = []
        self._warned: set[str] = set()

    def __enter__(self) -> Self:
        modules = dict(self.model.net.named_modules())
        self._handles.append(self.model.net.register_forward_pre_hook(self._reset))
        by_module: dict[str, list[str]] = {}
        for name, resolved in self.resolved.items():
            if resolved not in (LOGITS, INPUT):
                by_module.setdefault(resolved, []).append(name)
        for resolved, names in by_module.items():
            record = self._hook(names)
            if self.inputs:
                handle = modules[resolved].register_forward_pre_hook(lambda m, i, record=record: record(m, i, i))
            else:
                handle = modules[resolved].register_forward_hook(record)
            self._handles.append(handle)
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _reset(self, _module, inputs):
        kept = {INPUT: self.activations[INPUT]} if INPUT in self.activations else {}
        self.activations = kept

    def _hook(self, names: list[str]):
        wanted = [n for n in self.names if self.resolved[n] not in (LOGITS, INPUT)]

        def hook(_module, _inputs, output):
            tensor = first_tensor(output)
            if tensor is None:
                return
            if names[0] in self.activations and names[0] not in self._warned:
                self._warned.add(names[0])
                warnings.warn(
                    f"layer {names[0]!r} ran more than once in one forward pass (a reused module?); "
                    "only its last output is kept", RuntimeWarning, stacklevel=2)
            value = tensor.detach().clone() if self.detach else tensor.clone()
            for name in names:
                self._record(name, value)
            if self.truncate and all(n in self.activations for n in wanted):
                raise _StopForward

        return hook

    def _record(self, name: str, value: torch.Tensor) -> None:
        if not self.canonical:
            self.activations[name] = value
            return
        spec = spec_from_shape(name, tuple(value.shape[1:]), self.prefix_tokens)
        self.activations[name] = spec.grid_view(value)
        if spec.kind == "tokens":
            self.activations[prefix_key(name)] = spec.prefix_tokens(value)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the model on `images` (RGB in [0, 1]) and return the recorded activations."""
        if not self._handles:
            raise RuntimeError("use Capture as a context manager: `with Capture(...) as cap: cap(x)`")
        if INPUT in self.names:
            self.activations[INPUT] = images
        try:
            logits = self.model(images)
        except _StopForward:
            logits = None
        acts = dict(self.activations)
        if LOGITS in self.names and logits is not None:
            acts[LOGITS] = logits.detach() if self.detach else logits
        return acts


def capture(model: VisionModel, layers: Iterable[str] | str, **kwargs) -> Capture:
    """`with capture(model, ["blocks.4"]) as cap: acts = cap(images)`; see `Capture`."""
    if isinstance(layers, str):
        layers = [layers]
    return Capture(model, layers, **kwargs)


@torch.no_grad()
def activations(model: VisionModel, images: torch.Tensor, layers, *, truncate: bool = True,
                canonical: bool = False) -> dict:
    """Activations (detached) of `layers` for one batch of images in [0, 1] (see `Capture`)."""
    with capture(model, layers, truncate=truncate, detach=True, canonical=canonical) as cap:
        return cap(images)
