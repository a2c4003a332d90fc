"""What `deepscope patch` asks for, said once: the images, the pair (or an automatic choice), the
candidate sources (a class-direction render at a mid layer, an atlas store's two-class comparison)
and the measurement settings. `run` builds the experiment, keyed by everything that shapes it."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import VisionModel
from deepscope.probes.image_set import load_image_set
from deepscope.probes.paste import RATIOS
from deepscope.probes.patch_run import PatchExperiment, PatchSettings
from deepscope.probes.patch_sources import AtlasSource, RenderSettings, RenderSource

REFERENCE_IMAGES = 32  # images the class direction is measured on


@dataclass
class PatchRequest:
    """A patch experiment on the images in `images`: class `source` -> `target` (both None: the tool
    picks among `pairs` automatic pairs); `mode` None: targeted with a given pair, else universal;
    `layer` None: the atlas store's layer, else a middle block."""

    images: str | os.PathLike
    source: str | int | None = None
    target: str | int | None = None
    mode: str | None = None
    layer: str | None = None
    atlas_store: str | os.PathLike | None = None
    pairs: int = 3
    screen: int = 48
    ratios: Sequence[float] = RATIOS
    size: int = 128
    steps: int = 256
    limit: int | None = None
    batch: int = 8
    seed: int = 0

    def check(self) -> None:
        if (self.source is None) != (self.target is None):
            raise DeepscopeError("give both --from and --to, or neither (the tool then picks the pair)")
        if min(self.screen, self.pairs, self.size, self.steps, self.batch) < 1:
            raise DeepscopeError("--screen, --pairs, --size, --steps and --batch must be at least 1")
        if not self.ratios or any(not 0 < r <= 1 for r in self.ratios):
            raise DeepscopeError(f"--ratios must be fractions in (0, 1], got {list(self.ratios)}")

    def run(self, model: VisionModel, out: str | os.PathLike, *, progress: bool = True) -> dict:
        """Run (or resume) the experiment into `out`; returns its report (`report.json`)."""
        self.check()
        pairs = None
        if self.source is not None:
            pairs = [(model.class_index(self.source), model.class_index(self.target))]
            if pairs[0][0] == pairs[0][1]:
                raise DeepscopeError("--from and --to name the same class")
        mode = self.mode or ("targeted" if pairs else "universal")
        images = load_image_set(self.images, model, limit=self.limit, progress=progress)
        store = self._atlas_store()
        layer = self.layer or (store.layer if store is not None else _default_layer(model))
        model.resolve(layer)
        render = RenderSettings(size=self.size, steps=self.steps, seed=self.seed, progress=progress)
        sources = [RenderSource(layer, images.batch(0, min(len(images), REFERENCE_IMAGES)), render)]
        if store is not None:
            sources.append(AtlasSource(store, settings=render))
        settings = PatchSettings(mode=mode, ratios=list(self.ratios), screen=self.screen, auto_pairs=self.pairs,
                                 batch_size=self.batch, seed=self.seed, progress=progress)
        source_settings = {"size": self.size, "steps": self.steps, "layer": layer,
                           "atlas": str(self.atlas_store) if store is not None else None}
        return PatchExperiment(model, images, sources, out, settings, source_settings=source_settings).run(pairs)

    def _atlas_store(self):
        if not self.atlas_store:
            return None
        from deepscope.atlas import open_store

        store = open_store(self.atlas_store)
        if getattr(store, "attr", None) is None:
            raise DeepscopeError(f"{self.atlas_store} has no attributions: collect it with attribution")
        return store


def _default_layer(model: VisionModel) -> str:
    from deepscope.models import suggest_layers

    layers = suggest_layers(model, 6)
    return layers[len(layers) * 2 // 3]
