"""What `deepscope atlas` asks for, with its defaults said once: collect a layer's activations over
images (resumably, into a store), then a layer atlas, a class atlas or a two-class comparison,
saved to a folder.

Sized to the data when not given: positions per image so that a small image set still gives about
`TARGET_ACTIVATIONS` activations (`atlas_positions`), and a layer atlas's grid from the number of
activations (`atlas_grid`: about `DENSITY` x threshold activations per cell)."""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepscope.atlas.build import GRID, THRESHOLD, Atlas, build_atlas
from deepscope.atlas.class_atlas import CLASS_GRID, CLASS_THRESHOLD, class_atlas
from deepscope.atlas.collection import ActivationStore, collect
from deepscope.atlas.compare import COMPARE_GRID, COMPARE_THRESHOLD, compare_classes
from deepscope.atlas.icons import IconSettings
from deepscope.atlas.layout import FIT_LIMIT
from deepscope.data.sources import as_source
from deepscope.errors import DeepscopeError
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel

ICONS = IconSettings()
TARGET_ACTIVATIONS = 1200  # what a small image set is sampled up to (positions per image)
MAX_POSITIONS = 16
DENSITY = 2.4  # activations per cell of the g×g grid, in thresholds
FILLED = 0.5  # share of the cells a UMAP layout of the site's images fills at that density (0.54-0.78)
GRID_RANGE = (4, GRID)  # automatic grid sizes


def atlas_positions(images: int, map_cells: int, target: int = TARGET_ACTIVATIONS) -> int:
    """Positions per image: enough for `target` activations over `images` images (1 for a large set),
    at most `MAX_POSITIONS` and the `map_cells` an image offers."""
    wanted = math.ceil(target / max(images, 1))
    return int(max(1, min(wanted, MAX_POSITIONS, map_cells)))


def atlas_grid(activations: int, threshold: int, density: float = DENSITY) -> int:
    """The grid size g giving about `density` x `threshold` activations per cell, within `GRID_RANGE`."""
    size = round(math.sqrt(activations / (density * max(threshold, 1))))
    return int(min(max(size, GRID_RANGE[0]), GRID_RANGE[1]))


def sampled_cells(height: int, width: int, margin: int) -> int:
    """How many positions of an h x w map lie `margin` away from its edges (as collection samples them)."""
    margin = min(margin, (height - 1) // 2, (width - 1) // 2)
    return max(1, (height - 2 * margin) * (width - 2 * margin))


SIZES = {"layer": (GRID, THRESHOLD), "class": (CLASS_GRID, CLASS_THRESHOLD),
         "compare": (COMPARE_GRID, COMPARE_THRESHOLD)}  # (grid, threshold) per kind of atlas


@dataclass
class AtlasRequest:
    """An atlas of `layer` over `images` (a folder or a dataset); `cls` makes it a class atlas,
    `compare` (two classes) a comparison. `positions` None: from the number of images
    (`atlas_positions`); `grid` None: a layer atlas's from the number of activations (`atlas_grid`),
    the kind's default (`SIZES`) for the others; `threshold` None: the kind's default;
    `icon_size` None: from the layer's stride. `store` None: `OUT/activations`."""

    layer: str
    images: str | os.PathLike | object
    cls: str | int | None = None
    compare: Sequence[str | int] | None = None
    grid: int | None = None
    threshold: int | None = None
    positions: int | None = None
    margin: int = 1
    tokens: str = "patches"  # on a token layer: "class" collects the class token, one per image
    attribution: bool = True
    limit: int | None = None
    layout: str = "umap"
    layout_fit: int = FIT_LIMIT  # the UMAP layout is fitted on a sample of this many activations (0: all)
    whiten: bool = False
    icon_size: int | None = ICONS.size
    steps: int = ICONS.steps
    attempts: int = ICONS.attempts
    power: float = ICONS.power
    icon_batch: int = ICONS.batch
    store: str | os.PathLike | None = None
    batch_size: int = 16
    workers: int | None = None
    shard: str | None = None
    autocast: str | None = None  # "bf16": collection in bfloat16 (without attribution)
    seed: int = 0
    engine: str = "local"  # "ray": collection as tasks on Ray workers (docs/scale.md)
    address: str | None = None  # a Ray cluster to join (None: a local Ray for the run)
    ray_workers: int | None = None
    threads: int | None = None  # torch threads of each Ray worker (None: 1)

    @property
    def kind(self) -> str:
        """`layer`, `class` or `compare`."""
        return "class" if self.cls is not None else "compare" if self.compare else "layer"

    def check(self) -> None:
        if ((self.positions or 1) < 1 or (self.icon_size or 8) < 8 or self.steps < 1 or self.attempts < 1
                or self.icon_batch < 1):
            raise DeepscopeError("--positions, --steps, --attempts, --icon-batch must be at least 1, --icon-size 8")
        if self.cls is not None and self.compare:
            raise DeepscopeError("give --class or --compare, not both")
        if self.compare and len(self.compare) != 2:
            raise DeepscopeError(f"--compare takes two classes, got {len(self.compare)}")
        if not self.attribution and self.kind != "layer":
            raise DeepscopeError("--class and --compare need attributions: drop --no-attribution")

    def store_dir(self, out: str | os.PathLike) -> Path:
        return Path(self.store) if self.store else Path(out) / "activations"

    def icons(self) -> IconSettings:
        return IconSettings(size=self.icon_size, steps=self.steps, attempts=self.attempts, power=self.power,
                            batch=self.icon_batch, seed=self.seed)

    def collect(self, model: VisionModel, out: str | os.PathLike, progress: bool = True) -> ActivationStore | None:
        """The activation store (collected or resumed); None when only a shard was asked for or is done."""
        from deepscope.distributed.engine import open_engine

        source = as_source(self.images, model.input_size)
        with open_engine(self.engine, model, address=self.address, workers=self.ray_workers,
                         threads=self.threads) as engine:
            return collect(model, self.layer, source, self.store_dir(out),
                           positions=self.sampled_positions(model, source), margin=self.margin, tokens=self.tokens,
                           attribution=self.attribution, seed=self.seed, batch_size=self.batch_size,
                           workers=self.workers, shard=self.shard, limit=self.limit, progress=progress,
                           engine=engine, autocast=self.autocast)

    def sampled_positions(self, model: VisionModel, source) -> int:
        """`positions`, or (None) as many as the number of images and the layer's map call for."""
        if self.positions is not None:
            return self.positions
        images = min(len(source.ids), self.limit or len(source.ids))
        grid = layer_spec(model, self.layer).grid or (1, 1)  # a vector layer: collection says why it cannot
        return atlas_positions(images, sampled_cells(*grid, self.margin))

    def build(self, model: VisionModel, store: ActivationStore, progress: bool = True) -> Atlas:
        """The atlas of this kind from the collected `store`."""
        grid, threshold = SIZES[self.kind]
        threshold = threshold if self.threshold is None else self.threshold
        if self.kind == "layer":
            grid = atlas_grid(len(store), threshold)
        common = {"grid": self.grid or grid, "threshold": threshold,
                  "whiten": self.whiten, "icons": self.icons(), "seed": self.seed, "progress": progress}
        if self.kind == "class":
            return class_atlas(model, store, self.cls, layout=self.layout, **common)
        if self.kind == "compare":
            return compare_classes(model, store, *self.compare, **common).atlas
        fit = {} if self.layout_fit == FIT_LIMIT else {"layout_params": {"fit_limit": self.layout_fit or None}}
        return build_atlas(model, store, self.layer, layout=self.layout, **fit, **common)

    def run(self, model: VisionModel, out: str | os.PathLike, progress: bool = True) -> Atlas | None:
        """Collect, build and save the atlas into `out`; None when only a shard was collected."""
        self.check()
        store = self.collect(model, out, progress)
        if store is None or self.shard:
            return None
        if store.failed:
            print(f"skipped {len(store.failed)} unreadable image(s) (listed in {self.store_dir(out)}/shards/*/"
                  f"failed.json), e.g. {store.failed[0]['reason']}", file=sys.stderr)
        try:
            atlas = self.build(model, store, progress)
        except DeepscopeError as err:
            raise DeepscopeError(f"{err} (the {len(store)} collected activations stay in {self.store_dir(out)}; "
                                 "a rerun reuses them)") from err
        atlas.save(out)
        return atlas


def summary_line(atlas: Atlas, out: str | os.PathLike) -> str:
    """What was written, with the icons' fidelity and the layout's coherence."""
    summary = atlas.to_json()
    fid = summary["fidelity"] or {}
    return (f"wrote {out}/atlas.png, atlas.json and {len(atlas.grid)} icons; "
            f"median centre cosine {fid.get('median_cosine', math.nan):.3f}, "
            f"icons beating the best real activation {fid.get('fraction_beating_real', math.nan):.0%}, "
            f"coherence ratio {summary['coherence'].get('ratio') or math.nan:.3f}")
