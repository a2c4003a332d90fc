"""What `deepscope render` asks for, with its defaults said once: channels, neurons or classes of a
model, rendered to a folder by the driver (`render_to_folder`)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from deepscope.errors import DeepscopeError
from deepscope.models.layers import suggest_layers
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel
from deepscope.render.driver import RenderGroup, render_to_folder
from deepscope.render.objectives import channel, class_logit, diversity, neuron
from deepscope.render.param import PARAMS, default_lr

DEFAULT_CHANNELS = list(range(16))
OVERVIEW_CHANNELS = list(range(6))
OVERVIEW_LAYERS = 6
UNIT_SIZE = 128


@dataclass
class RenderRequest:
    """Feature visualizations of `layers` x `channels` (an overview of the model when neither
    layers nor classes are given) and of `classes`; `size=None`: 128 px, the model's size for classes."""

    layers: Sequence[str] = ()
    channels: Sequence[int] | None = None
    neuron: bool = False
    classes: Sequence[str | int] = ()
    diversity: int = 0
    diversity_weight: float = 100.0
    param: str = "fft"
    transforms: str | None = None  # None: standard for units, strong for classes
    size: int | None = None
    steps: int = 256
    lr: float | None = None
    attempts: int = 1
    batch: int = 16
    seed: int = 0

    def check(self) -> None:
        if self.size is not None and self.size < 8:
            raise DeepscopeError(f"--size {self.size} is too small: use at least 8 pixels")
        if self.steps < 1:
            raise DeepscopeError(f"--steps must be positive, got {self.steps}")
        if self.attempts < 1 or self.batch < 1 or self.diversity < 0:
            raise DeepscopeError("--attempts and --batch must be at least 1, --diversity at least 0")
        PARAMS.get(self.param)

    def groups(self, model: VisionModel) -> list[RenderGroup]:
        """One group per layer, plus one for the classes (first), each with its render options."""
        groups = []
        if self.classes:
            groups.append(RenderGroup("classes", [_class_objective(model, c) for c in self.classes],
                                      self._options(model, classes=True)))
        layers, channels = list(self.layers), self.channels
        if not layers and not self.classes:
            layers, channels = suggest_layers(model, OVERVIEW_LAYERS), channels or OVERVIEW_CHANNELS
        channels = list(channels or DEFAULT_CHANNELS)
        for layer in layers:
            model.resolve(layer)
            layer_spec(model, layer, model.accepted_size(self.size or UNIT_SIZE)).check_channels(channels)
            make = neuron if self.neuron else channel
            objectives = [make(layer, c) for c in channels]
            if self.diversity >= 2:
                objectives = [o + self.diversity_weight * diversity(layer) for o in objectives]
            groups.append(RenderGroup(layer, objectives, self._options(model, classes=False)))
        return groups

    def _options(self, model: VisionModel, classes: bool) -> dict:
        size = self.size or (model.input_size if classes else UNIT_SIZE)
        return {"size": size, "steps": self.steps, "param": self.param, "lr": self.lr,
                "transforms": self.transforms or ("strong" if classes else "standard"),
                "images_per_objective": max(1, self.diversity), "attempts": self.attempts}

    def settings(self, model: VisionModel, weights: str | None = None) -> dict:
        """Everything that determines the images (the job's key)."""
        values = asdict(self)
        values["lr"] = self.lr if self.lr is not None else default_lr(self.param)  # defaults may change
        return {"model": model.key, "weights": weights, **values}

    def run(self, model: VisionModel, out: str | os.PathLike, *, weights: str | None = None,
            progress: bool = True) -> list[dict]:
        """Render into `out` (resumable: finished batches are kept); returns the results entries."""
        self.check()
        return render_to_folder(model, self.groups(model), out, batch=self.batch, seed=self.seed,
                                progress=progress, settings=self.settings(model, weights))


def _class_objective(model: VisionModel, label):
    index = model.class_index(label)
    return class_logit(index, model.classes[index] if model.classes else str(index))
