"""Objectives: functions from captured activations to one score per image, to be maximized.

Objectives compose exactly: `a + 2 * b`, `a - b`, `-a`, `3 * a`, `a / 2` form one linear
combination whose score is the same combination of the terms' scores. `obj.at(i)` scores only
batch index `i` (zero elsewhere), so several objectives can share one batch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch

from deepscope.models.layout import prefix_key
from deepscope.models.vision_model import LOGITS

Acts = dict[str, torch.Tensor]


class Objective:
    """Base class: `layers` lists the layers it reads, `score(acts)` returns a (B,) tensor."""

    layers: tuple[str, ...] = ()
    name: str = "objective"
    meta: ClassVar[dict] = {}  # what it targets, for result files: {"kind", "layer", "unit"} where known

    def score(self, acts: Acts) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.score(acts)

    def __repr__(self) -> str:
        return self.name

    # --- algebra -------------------------------------------------------------------------
    def _terms(self) -> list[tuple[float, Objective]]:
        return [(1.0, self)]

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self
        return LinearCombination(self._terms() + _as_objective(other)._terms())

    def __radd__(self, other):
        return self.__add__(other)

    def __sub__(self, other):
        return self + (-1.0) * _as_objective(other)

    def __rsub__(self, other):
        return _as_objective(other) + (-1.0) * self

    def __neg__(self):
        return (-1.0) * self

    def __mul__(self, factor):
        if not isinstance(factor, (int, float)):
            return NotImplemented
        return LinearCombination([(float(factor) * c, t) for c, t in self._terms()])

    def __rmul__(self, factor):
        return self.__mul__(factor)

    def __truediv__(self, factor):
        return self * (1.0 / factor)

    def at(self, index: int | Sequence[int]) -> Objective:
        """This objective scored only on batch index (or indices) `index`, zero elsewhere."""
        return AtBatch(self, index)


def _as_objective(value) -> Objective:
    if isinstance(value, Objective):
        return value
    raise TypeError(f"cannot combine an objective with {type(value).__name__}")


class LinearCombination(Objective):
    """Σ coefficient · term; built by the operators, flattened so coefficients never compound."""

    def __init__(self, terms: list[tuple[float, Objective]]):
        merged: dict[int, list] = {}
        for coef, term in terms:
            slot = merged.setdefault(id(term), [0.0, term])
            slot[0] += coef
        self.terms = [(c, t) for c, t in merged.values() if c != 0.0]
        self.layers = tuple(dict.fromkeys(layer for _, t in self.terms for layer in t.layers))
        self.name = _format_terms(self.terms)
        self.meta = next((t.meta for _, t in self.terms if t.meta), {})  # the leading term's target

    def _terms(self):
        return list(self.terms)

    def score(self, acts: Acts) -> torch.Tensor:
        total = None
        for coef, term in self.terms:
            part = coef * term.score(acts)
            total = part if total is None else total + part
        if total is None:
            return torch.zeros(_batch_size(acts))
        return total


def _format_terms(terms) -> str:
    out = ""
    for coef, term in terms:
        sign = "-" if coef < 0 else "+"
        mag = abs(coef)
        text = term.name if mag == 1 else f"{mag:g}*{term.name}"
        out = (f"-{text}" if sign == "-" else text) if not out else f"{out} {sign} {text}"
    return out or "0"


def _batch_size(acts: Acts) -> int:
    return next(iter(acts.values())).shape[0]


class AtBatch(Objective):
    """Scores `inner` only at some batch indices."""

    def __init__(self, inner: Objective, index):
        self.inner = inner
        self.index = [index] if isinstance(index, int) else list(index)
        self.layers = inner.layers
        self.name = f"{inner.name}@{','.join(map(str, self.index))}"
        self.meta = inner.meta

    def score(self, acts: Acts) -> torch.Tensor:
        full = self.inner.score(acts)
        mask = torch.zeros_like(full)
        mask[self.index] = 1.0
        return full * mask


class _Fn(Objective):
    """An objective from a function of the activations (for the simple built-ins and users)."""

    def __init__(self, layers: Sequence[str], fn: Callable[[Acts], torch.Tensor], name: str, meta: dict | None = None):
        self.layers = tuple(layers)
        self.fn = fn
        self.name = name
        self.meta = meta or {}

    def score(self, acts: Acts) -> torch.Tensor:
        return self.fn(acts)


def custom(layers: Sequence[str], fn: Callable[[Acts], torch.Tensor], name: str = "custom") -> Objective:
    """Any `acts -> (B,) scores` function as an objective reading `layers`."""
    return _Fn(layers, fn, name)


def _spatial_mean(channel_map: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (B,) mean over space; (B,) stays as it is (fully connected layers)."""
    return channel_map.flatten(1).mean(1) if channel_map.dim() > 1 else channel_map


def _center(x: torch.Tensor, px, py):
    """Vector(s) at position (py, px) of (B, C, H, W); the centre when a coordinate is None."""
    h, w = x.shape[-2:]
    return x[:, :, h // 2 if py is None else py, w // 2 if px is None else px]


def channel(layer: str, index: int) -> Objective:
    """Mean over space of channel `index` of `layer`."""
    return _Fn([layer], lambda acts: _spatial_mean(acts[layer][:, index]), f"channel({layer}:{index})",
               {"kind": "channel", "layer": layer, "unit": index})


def neuron(layer: str, index: int, x: int | None = None, y: int | None = None) -> Objective:
    """Channel `index` of `layer` at one position (the centre by default)."""
    def fn(acts):
        act = acts[layer]
        return act[:, index] if act.dim() == 2 else _center(act, x, y)[:, index]
    where = "" if x is None and y is None else f"@{x},{y}"
    return _Fn([layer], fn, f"neuron({layer}:{index}{where})", {"kind": "neuron", "layer": layer, "unit": index})


def deepdream(layer: str) -> Objective:
    """Mean of the squared activations of `layer` (DeepDream's layer objective)."""
    return _Fn([layer], lambda acts: acts[layer].pow(2).flatten(1).mean(1), f"deepdream({layer})",
               {"kind": "deepdream", "layer": layer})


def class_logit(index: int, label: str | None = None) -> Objective:
    """The pre-softmax logit of class `index`."""
    return _Fn([LOGITS], lambda acts: acts[LOGITS][:, index], f"class({label or index})",
               {"kind": "class", "layer": LOGITS, "unit": index})


def direction(layer: str, vector: torch.Tensor) -> Objective:
    """Mean over positions of the dot product of the activation vector with `vector`."""
    vec = torch.as_tensor(vector, dtype=torch.float32)

    def fn(acts):
        act = acts[layer]
        v = vec.to(act.device, act.dtype)
        dots = torch.einsum("bc...,c->b...", act, v)
        return dots.flatten(1).mean(1) if dots.dim() > 1 else dots
    return _Fn([layer], fn, f"direction({layer})", {"kind": "direction", "layer": layer})


def direction_cossim(layer: str, vector: torch.Tensor, power: float = 2.0, *, x: int | None = None,
                     y: int | None = None, whitening: torch.Tensor | None = None,
                     token: int | None = None) -> Objective:
    """dot · max(0.1, cos)^power at one position (centre by default), as for atlas icons.

    dot = h·v̂ with v̂ = (v·S)/‖v·S‖ (S an optional whitening matrix); cos = dot / ‖h‖.
    `token=j` reads prefix token j of a token layer instead (0: the class token).
    """
    vec = torch.as_tensor(vector, dtype=torch.float32)
    if whitening is not None:
        vec = vec @ torch.as_tensor(whitening, dtype=torch.float32)
    vec = vec / vec.norm().clamp_min(1e-8)

    def fn(acts):
        act = acts[layer]
        if act.dim() == 2:
            h = act
        else:
            h = _center(act, x, y) if token is None else acts[prefix_key(layer)][:, token]
        dot = h @ vec.to(h.device, h.dtype)
        cos = (dot / (1e-4 + h.norm(dim=1))).clamp_min(0.1)
        return dot * cos.pow(power)
    return _Fn([layer], fn, f"direction_cossim({layer},p={power:g})", {"kind": "direction", "layer": layer})


def diversity(layer: str) -> Objective:
    """−Σ_{b≠a} cos(G_a, G_b) / B per image a: higher when the batch's Gram matrices differ.

    Add it to the batch's objective with a weight (Olah et al.: channel + 1e2 · diversity). On a vector
    layer G = v vᵀ, so cos(G_a, G_b) = cos(v_a, v_b)², computed without the C x C matrices.
    """
    def fn(acts):
        act = acts[layer]
        if act.dim() == 2:
            unit = torch.nn.functional.normalize(act, dim=1, eps=1e-10)
            sims = (unit @ unit.T).pow(2)
        else:
            flat = act.flatten(2)  # B, C, HW
            grams = torch.bmm(flat, flat.transpose(1, 2)).flatten(1)
            grams = torch.nn.functional.normalize(grams, dim=1, eps=1e-10)
            sims = grams @ grams.T
        batch = act.shape[0]
        return -(sims.sum(1) - sims.diagonal()) / batch
    return _Fn([layer], fn, f"diversity({layer})")
