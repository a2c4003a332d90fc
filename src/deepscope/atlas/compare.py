"""Two-class comparison (Carter et al. 2019): x = which of two classes an activation supports,
y = a 1-D layout, binned 10×10; each column is labelled by the class it supports most.

`compare_classes` returns a `Comparison` whose cells carry their direction, icon and attribution
to both classes, so that probes (e.g. atlas-derived patches) can pick the features that push a
prediction from class a towards class b.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepscope.atlas.build import Atlas, build_atlas
from deepscope.atlas.class_atlas import class_index
from deepscope.atlas.collection.store import ActivationStore
from deepscope.atlas.layout import layout as run_layout
from deepscope.atlas.layout import normalize_layout

COMPARE_GRID, COMPARE_THRESHOLD = 10, 4


@dataclass
class ComparisonCell:
    grid: tuple[int, int]
    direction: np.ndarray  # mean activation of the cell (C,)
    x: float  # mean normalized attribution difference, -1 (class a) .. +1 (class b)
    attribution_a: float
    attribution_b: float
    count: int
    icon: torch.Tensor | None  # (3, s, s) in [0, 1], when icons were rendered
    score: float | None


@dataclass
class Comparison:
    a: int
    b: int
    names: tuple[str, str]
    atlas: Atlas
    x: np.ndarray  # per activation of atlas.data, normalized attribution difference in [-1, 1]

    @property
    def column_labels(self) -> list[str | None]:
        return self.atlas.column_labels or []

    def _repr_html_(self) -> str:  # Jupyter: the comparison's atlas, columns labelled by class
        return self.atlas._repr_html_()

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"Comparison of {self.names[0]} and {self.names[1]}: {len(self.atlas.grid)} cells")

    def cells(self) -> list[ComparisonCell]:
        atlas, attr = self.atlas, self.atlas.cell_attribution()
        out = []
        for i, (cell, members) in enumerate(zip(atlas.grid.cells.tolist(), atlas.grid.members)):
            out.append(ComparisonCell((cell[0], cell[1]), atlas.grid.directions[i], float(self.x[members].mean()),
                                      float(attr[i, self.a]), float(attr[i, self.b]), int(atlas.grid.counts[i]),
                                      None if atlas.icons is None else atlas.icons[i],
                                      None if atlas.scores is None else float(atlas.scores[i])))
        return out

    def toward(self, which: str = "b", n: int = 5) -> list[ComparisonCell]:
        """The n cells that most support class `which` ('a' or 'b') over the other (by mean x)."""
        sign = 1.0 if which == "b" else -1.0
        return sorted(self.cells(), key=lambda c: -sign * c.x)[:n]


def select_pair(store: ActivationStore, a: int, b: int, top: int) -> np.ndarray:
    """Rows whose top attribution is a or b, plus the `top` rows most attributed to each."""
    attr = store.attr
    winners = np.flatnonzero(np.isin(attr.argmax(1), [a, b]))
    best_a = np.argsort(-attr[:, a].astype(np.float32), kind="stable")[:top]
    best_b = np.argsort(-attr[:, b].astype(np.float32), kind="stable")[:top]
    return np.union1d(winners, np.union1d(best_a, best_b))


def attribution_axis(attr_a: np.ndarray, attr_b: np.ndarray) -> np.ndarray:
    """(b − a) / its 99th percentile of |·|, clipped to [−1, 1]."""
    diff = attr_b.astype(np.float64) - attr_a.astype(np.float64)
    scale = np.percentile(np.abs(diff), 99)
    return np.clip(diff / max(scale, 1e-12), -1.0, 1.0)


def compare_classes(model, store: ActivationStore, a: str | int, b: str | int, *, top: int = 2000,
                    grid: int = COMPARE_GRID, threshold: int = COMPARE_THRESHOLD, y_layout: str = "tsne",
                    seed: int = 0, **kwargs) -> Comparison:
    """Compare classes a and b: which features support one over the other (see module doc).
    Extra keyword arguments go to `build_atlas` (icons, whiten, progress, ...)."""
    ia, ib = class_index(store, a), class_index(store, b)
    rows = select_pair(store, ia, ib, top)
    data = store.subset(rows)
    x = attribution_axis(data.attr[:, ia], data.attr[:, ib])
    y = run_layout(data.acts, y_layout, dims=1, seed=seed)[:, 0]
    coords = np.stack([(x + 1) / 2, normalize_layout(y[:, None])[:, 0]], 1)
    atlas = build_atlas(model, data, grid=grid, threshold=threshold, coords=coords, seed=seed, **kwargs)
    atlas.params["layout"] = f"x: attribution {store.classes[ib]} - {store.classes[ia]}; y: 1-D {y_layout}"
    atlas.column_labels = _column_labels(atlas)
    names = (store.classes[ia], store.classes[ib])
    atlas.extra["compare"] = {"a": {"index": ia, "name": names[0]}, "b": {"index": ib, "name": names[1]},
                              "activations": len(rows)}
    return Comparison(ia, ib, names, atlas, x)


def _column_labels(atlas: Atlas) -> list[str | None]:
    """Per grid column, the class with the largest count-weighted mean attribution."""
    attr, names = atlas.cell_attribution(), atlas.data.classes
    labels: list[str | None] = []
    for column in range(atlas.grid.size):
        inside = atlas.grid.cells[:, 0] == column
        if not inside.any():
            labels.append(None)
            continue
        total = (attr[inside] * atlas.grid.counts[inside, None]).sum(0)
        labels.append(names[int(total.argmax())])
    return labels
