"""What `deepscope multiuse` asks for, with its defaults said once, and the activation store it
reads: a given store (`atlas_store`), or a fresh collection with attribution of `layer` over
`images` through the atlas collection (into `OUT/activations`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from deepscope.atlas.collection.store import ActivationStore
from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import VisionModel
from deepscope.probes.multiuse.relatedness import UNRELATED
from deepscope.probes.multiuse.validation import MARGIN, ValidationSettings
from deepscope.probes.paste import RATIOS


@dataclass
class MultiuseRequest:
    """Multi-use units of a store's layer: `top` candidates validated by patch tests on held-out images."""

    atlas_store: str | os.PathLike | None = None
    layer: str | None = None
    images: str | os.PathLike | None = None
    positions: int | None = None  # fresh collection: None = as the atlas sizes it
    limit: int | None = None
    top: int = 10  # candidates validated
    classes: int = 3  # top classes per unit
    top_positions: int = 64  # positions a channel's support is read from
    grid: int | None = None  # atlas grid; None: from the number of activations
    threshold: int = 5
    layout: str = "umap"
    unrelated: float = UNRELATED
    holdout: float = 0.5
    test_images: int = 100
    examples: int = 4  # example crops per class on a sheet
    size: int = 128
    steps: int = 256
    ratios: list[float] = field(default_factory=lambda: list(RATIOS))
    margin: float = MARGIN
    batch: int = 8
    seed: int = 0

    def check(self) -> None:
        if self.atlas_store is not None and (self.images is not None):
            raise DeepscopeError("give --atlas-store, or --layer with --images for a fresh collection, not both")
        if self.atlas_store is None and (self.layer is None or self.images is None):
            raise DeepscopeError("give --atlas-store STORE (collected with attribution), or --layer L and "
                                 "--images DIR to collect one")
        if min(self.top, self.classes, self.top_positions, self.threshold, self.test_images, self.size,
               self.steps, self.batch) < 1 or self.classes < 2:
            raise DeepscopeError("--top, --top-positions, --threshold, --test-images, --size, --steps and --batch "
                                 "must be at least 1, --classes at least 2")
        if not 0 < self.holdout < 1:
            raise DeepscopeError(f"--holdout {self.holdout} must be a fraction strictly between 0 and 1")

    def validation(self) -> ValidationSettings:
        return ValidationSettings(size=self.size, steps=self.steps, images=self.test_images,
                                  ratios=list(self.ratios), margin=self.margin, batch=self.batch, seed=self.seed)

    def store(self, model: VisionModel, out: Path, progress: bool = True) -> ActivationStore:
        """The store, checked: collected with attribution, by this model, its images still on disk."""
        if self.atlas_store is not None:
            from deepscope.atlas.collection.store import open_store

            store = open_store(self.atlas_store)
            if self.layer is not None and model.resolve(self.layer) != model.resolve(store.layer):
                raise DeepscopeError(f"--layer {self.layer} differs from the store's layer {store.layer!r}: drop "
                                     "--layer, or collect a store of that layer")
        else:
            store = self._collect(model, out, progress)
        return checked(store, model, str(self.atlas_store or out / "activations"))

    def _collect(self, model: VisionModel, out: Path, progress: bool) -> ActivationStore:
        from deepscope.atlas.collection import collect
        from deepscope.atlas.request import AtlasRequest
        from deepscope.data.sources import as_source

        if not model.classes:
            raise DeepscopeError(f"{model.name} has no class names: multi-use features need a classifier")
        atlas = AtlasRequest(layer=self.layer, images=self.images, positions=self.positions, limit=self.limit,
                             seed=self.seed)
        source = as_source(self.images, model.input_size)
        return collect(model, self.layer, source, out / "activations", positions=atlas.sampled_positions(model, source),
                       attribution=True, seed=self.seed, limit=self.limit, progress=progress)


def checked(store: ActivationStore, model: VisionModel, where: str) -> ActivationStore:
    """`store` if multi-use features can be read from it, else a one-line error saying what to do."""
    if store.attr is None:
        raise DeepscopeError(f"the activation store {where!r} was collected without attribution: recollect it with "
                             "attribution (`deepscope atlas` without --no-attribution, into a new --store) or let "
                             "`deepscope multiuse --layer L --images DIR` collect one")
    if not store.classes:
        raise DeepscopeError(f"the activation store {where!r} has no class names: it is not a classifier's store")
    if store.meta.get("model") != model.name:
        raise DeepscopeError(f"the activation store {where!r} was collected with {store.meta.get('model')!r}, not "
                             f"{model.name!r}: run with --model {store.meta.get('model')}")
    source = Path(str(store.meta.get("source", "")))
    if not source.is_dir():
        raise DeepscopeError(f"the images of the store {where!r} are not in a folder at {str(source)!r} (the patch "
                             "test and the sheets need them): collect the store from an image folder")
    return store
