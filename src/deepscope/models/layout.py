"""What a layer emits, said once: a spatial map, tokens on a patch grid, or a vector.

`layer_spec(model, layer)` looks at one forward pass and returns a `LayerSpec`:
- `map`: (B, C, H, W), a convolutional feature map;
- `map_last`: (B, H, W, C), a channels-last map (Swin's stages, ConvNeXt blocks in timm);
- `tokens`: (B, N, C) with `prefix` leading tokens (class, registers) and an h x w patch grid;
- `vector`: (B, C), e.g. the logits or a pooled feature.

Every method reads a layer through `spec.grid(tensor)`, the canonical (B, C, h, w) view of maps and
patch tokens (prefix tokens apart: `spec.prefix_tokens(tensor)`), and asks `spec.require(...)` when it
cannot use a layout, so that tokens are never indexed as if they were channels.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch

from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import LOGITS, VisionModel

KINDS = ("map", "map_last", "tokens", "vector")
SPATIAL = ("map", "map_last", "tokens")
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LayerSpec:
    """The layout of one layer's output for one image (see the module docstring)."""

    layer: str
    kind: str
    channels: int
    grid: tuple[int, int] | None = None  # (h, w) of maps and patch tokens
    prefix: int = 0  # leading non-patch tokens
    shape: tuple[int, ...] = ()  # the raw output shape for one image

    @property
    def spatial(self) -> bool:
        return self.kind in SPATIAL

    def describe(self) -> str:
        """The layout in words, e.g. `map 112x14x14` or `tokens 197 = 1 prefix + 14x14 patches, 192 channels`."""
        if self.kind == "vector":
            return f"vector {self.channels}"
        h, w = self.grid
        if self.kind == "tokens":
            lead = f"{self.prefix} prefix + " if self.prefix else ""
            return f"tokens {self.shape[0]} = {lead}{h}x{w} patches, {self.channels} channels"
        return f"map {self.channels}x{h}x{w}" + (" (channels last)" if self.kind == "map_last" else "")

    def grid_view(self, output: torch.Tensor) -> torch.Tensor:
        """The canonical view of a batch of outputs: (B, C, h, w) for maps and patch tokens, (B, C) for vectors."""
        if self.kind == "map_last":
            return output.permute(0, 3, 1, 2)
        if self.kind == "tokens":
            patches = output[:, self.prefix:]
            return patches.transpose(1, 2).reshape(output.shape[0], self.channels, *self.grid)
        return output

    def raw_view(self, grid: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """The inverse of `grid_view`: a (B, C, h, w) tensor in the layer's own layout (a token layer's
        leading tokens are `prefix`, zeros when None)."""
        if self.kind == "map_last":
            return grid.permute(0, 2, 3, 1)
        if self.kind == "tokens":
            patches = grid.flatten(2).transpose(1, 2)
            if prefix is None:
                prefix = patches.new_zeros(patches.shape[0], self.prefix, patches.shape[2])
            return torch.cat([prefix, patches], 1)
        return grid

    @property
    def channel_axis(self) -> int:
        """The channel axis of the raw output: 1 for maps and vectors, -1 when channels come last."""
        return -1 if self.kind in ("map_last", "tokens") else 1

    def prefix_tokens(self, output: torch.Tensor) -> torch.Tensor:
        """(B, prefix, C): the class and register tokens of a token layer (empty for other layouts)."""
        if self.kind != "tokens":
            return output.new_zeros(output.shape[0], 0, self.channels)
        return output[:, :self.prefix]

    def require(self, *kinds: str, method: str) -> LayerSpec:
        """This spec when its kind is one of `kinds`, else a clear error naming what `method` can use."""
        if self.kind in kinds:
            return self
        want = " or ".join(_KIND_WORDS[k] for k in kinds)
        raise DeepscopeError(f"{method} needs a layer with {want}; {self.layer!r} gives {self.describe()} "
                             "(run `deepscope layers` to see each layer's layout)")

    def check_channels(self, channels) -> int:
        """The channel count; a clear error if any of `channels` is out of range."""
        bad = [c for c in channels if not 0 <= int(c) < self.channels]
        if bad:
            raise DeepscopeError(f"channel {bad[0]} is out of range: layer {self.layer!r} has {self.channels} "
                                 f"channels (0..{self.channels - 1})")
        return self.channels


_KIND_WORDS = {"map": "a convolutional (channels, height, width) feature map", "map_last": "a channels-last feature map",
               "tokens": "tokens on a patch grid", "vector": "a vector output"}


def spec_from_shape(layer: str, shape: tuple[int, ...], num_prefix_tokens: int | None = None) -> LayerSpec:
    """The layout of an output of shape `shape` (one image, batch axis removed), from a square input.

    4-D outputs are channels-first unless their two leading axes are the square grid and the last is
    not; 3-D outputs are tokens whose prefix is `num_prefix_tokens` (timm's attribute) when known,
    else what is left over above the largest square patch grid.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return LayerSpec(layer, "vector", shape[0], shape=shape)
    if len(shape) == 3:
        if shape[0] == shape[1] and shape[1] != shape[2]:
            return LayerSpec(layer, "map_last", shape[2], (shape[0], shape[1]), shape=shape)
        return LayerSpec(layer, "map", shape[0], (shape[1], shape[2]), shape=shape)
    if len(shape) == 2:
        tokens, channels = shape
        prefix = num_prefix_tokens if num_prefix_tokens is not None else tokens - math.isqrt(tokens) ** 2
        side = math.isqrt(max(tokens - prefix, 0))
        if prefix < tokens and side * side == tokens - prefix:
            return LayerSpec(layer, "tokens", channels, (side, side), prefix, shape)
    raise DeepscopeError(f"layer {layer!r} has output shape {shape}, which deepscope cannot read as a map, "
                         "tokens or a vector; choose another layer (see `deepscope layers`)")


@torch.no_grad()
def layer_spec(model: VisionModel, layer: str, size: int | None = None) -> LayerSpec:
    """The `LayerSpec` of `layer` (name or alias) for `size` x `size` inputs (the model's size by default)."""
    from deepscope.models.capture import activations

    size = size or model.input_size
    cache = _CACHE.setdefault(model, {})
    key = (model.resolve(layer), size)
    if key not in cache:
        probe = torch.full((1, 3, size, size), 0.5, device=model.device)
        output = activations(model, probe, [layer])[layer]
        if layer == LOGITS:
            output = output.flatten(1)
        cache[key] = spec_from_shape(layer, tuple(output.shape[1:]), getattr(model.net, "num_prefix_tokens", None))
    spec = cache[key]
    return spec if spec.layer == layer else LayerSpec(layer, spec.kind, spec.channels, spec.grid, spec.prefix,
                                                      spec.shape)


def require_layout(model: VisionModel, layer: str, *kinds: str, method: str, size: int | None = None) -> LayerSpec:
    """`layer_spec(model, layer, size).require(*kinds, method=...)`, the error also naming layers that would work."""
    spec = layer_spec(model, layer, size)
    try:
        return spec.require(*kinds, method=method)
    except DeepscopeError as err:
        usable = usable_layers(model, kinds)
        hint = f"; layers that would work: {', '.join(usable)}" if usable else ""
        raise DeepscopeError(f"{err}{hint}") from None


def usable_layers(model: VisionModel, kinds, limit: int = 6) -> list[str]:
    """Up to `limit` block-level layers whose layout is one of `kinds`, spread over the network."""
    from deepscope.models.layers import list_layers

    names = [i.name for i in list_layers(model) if i.spec is not None and i.spec.kind in kinds and i.calls == 1
             and i.kind not in ("Identity", "Dropout") and (i.spec.grid is None or i.spec.grid[0] * i.spec.grid[1] > 1)]
    shallow = [n for n in names if n.count(".") <= 1] or names
    step = max(1, len(shallow) // limit)
    return shallow[::step][-limit:]


def prefix_key(layer: str) -> str:
    """The name under which `capture(..., canonical=True)` hands out a token layer's prefix tokens."""
    return f"{layer}#prefix"
