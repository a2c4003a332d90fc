"""Which layers a site shows: maps, patch tokens and vectors, each with its layout.

A vector layer gets feature visualizations and top examples (no atlas: one activation per image, no
positions). A vector that is only the spatial mean of a map or of patch tokens (a global average
pool) is refused with that layer's name: its units are the same channel objectives.
"""
from __future__ import annotations

import torch

from deepscope.app.config import SiteConfig
from deepscope.errors import DeepscopeError
from deepscope.models import LayerSpec, layer_spec, suggest_layers
from deepscope.models.capture import activations
from deepscope.models.layers import readable_spec, trace_outputs
from deepscope.models.vision_model import VisionModel

_SPATIAL_WORDS = {"map": "convolutional feature map", "map_last": "channels-last feature map",
                  "tokens": "patch tokens"}


def resolve_layers(model: VisionModel, cfg: SiteConfig) -> dict[str, LayerSpec]:
    """{layer: its layout} of the layers to show (default: a middle and a late block)."""
    if cfg.layers:
        names = cfg.layers
    else:
        spread = suggest_layers(model, 5)
        names = list(dict.fromkeys([spread[len(spread) // 2], spread[-1]]))
    specs = {}
    for name in names:
        model.resolve(name)
        spec = layer_spec(model, name)
        if spec.kind == "vector":
            _refuse_pooled_copy(model, spec)
        spec.check_channels(cfg.channels)
        specs[name] = spec
    return specs


@torch.no_grad()
def pooled_source(model: VisionModel, spec: LayerSpec) -> tuple[str, LayerSpec] | None:
    """The spatial layer (name, layout) whose spatial mean a vector layer is, found numerically, else None."""
    resolved = model.resolve(spec.layer)
    order = trace_outputs(model)
    names = [name for name, _, _ in order]
    if resolved not in names:
        return None
    prefix = getattr(model.net, "num_prefix_tokens", None)
    before = [(name, readable_spec(name, shape, prefix, one)) for name, shape, one in order[:names.index(resolved)]]
    candidates = [(n, s) for n, s in before
                  if s is not None and s.spatial and s.channels == spec.channels and s.grid[0] * s.grid[1] > 1]
    if not candidates:
        return None
    name, source = candidates[-1]
    probe = torch.rand(2, 3, model.input_size, model.input_size, generator=torch.Generator().manual_seed(0))
    acts = activations(model, probe.to(model.device), [name, resolved], canonical=True)
    pooled = acts[name].mean((2, 3))
    return (name, source) if torch.allclose(pooled, acts[resolved].flatten(1), rtol=1e-4, atol=1e-5) else None


def _refuse_pooled_copy(model: VisionModel, spec: LayerSpec) -> None:
    found = pooled_source(model, spec)
    if found is not None:
        name, source = found
        raise DeepscopeError(f"the site does not show {spec.layer!r} ({spec.describe()}) apart: it is the spatial "
                             f"mean of the {_SPATIAL_WORDS[source.kind]} {name!r} ({source.describe()}), whose pages "
                             f"show the same units (their channel objectives); give --layers {name}")
