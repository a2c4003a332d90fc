"""The two sides of a diff: a model and one of its layers, checked to have a spatial map to align."""
from __future__ import annotations

from dataclasses import dataclass

from deepscope.errors import DeepscopeError, close_matches
from deepscope.models.layout import SPATIAL, LayerSpec, layer_spec, usable_layers
from deepscope.models.vision_model import VisionModel

ROLES = {"a": ("model A", "--layer"), "b": ("model B", "--layer-b")}


@dataclass
class Side:
    """`model` read at `layer`, whose canonical grid `spec.grid` positions are aligned on."""

    model: VisionModel
    layer: str
    spec: LayerSpec
    role: str = "a"

    def settings(self) -> dict:
        """What determines this side's activations (for the collection's job settings)."""
        return {"model": self.model.key, "layer": self.layer, "input_size": self.model.input_size,
                "grid": list(self.spec.grid), "channels": self.spec.channels}

    def describe(self) -> str:
        return f"{self.model.key} {self.layer} ({self.spec.describe()})"


def side(model: VisionModel, layer: str, role: str, other: VisionModel | None = None) -> Side:
    """`Side(model, layer)`, or one line naming the fix: an unknown layer (with close names from this
    model), a layer without a spatial map of more than one cell (with layers that would work)."""
    what, option = ROLES[role]
    try:
        model.resolve(layer)
    except DeepscopeError:
        names = list(model.aliases) + model.layer_names()
        near = close_matches(layer, names) or usable_layers(model, SPATIAL)
        elsewhere = f" (it is a layer of {other.name})" if other is not None and _has(other, layer) else ""
        raise DeepscopeError(f"{what} ({model.name}) has no layer {layer!r}{elsewhere}; close names in {model.name}: "
                             f"{', '.join(near)}; give {option} (see `deepscope layers --model {model.name}`)"
                             ) from None
    spec = layer_spec(model, layer)
    if spec.kind not in SPATIAL or spec.grid[0] * spec.grid[1] < 2:
        usable = ", ".join(usable_layers(model, SPATIAL))
        raise DeepscopeError(f"{what}'s layer {layer!r} gives {spec.describe()}: no spatial map whose positions could "
                             f"be aligned with the other model's; give {option} a layer with a map or patch tokens "
                             f"(in {model.name}: {usable})")
    return Side(model, layer, spec, role)


def _has(model: VisionModel, layer: str) -> bool:
    try:
        model.resolve(layer)
    except DeepscopeError:
        return False
    return True
