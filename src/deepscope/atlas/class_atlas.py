"""Class atlas: the activations that matter for one class, drawn with attribution as opacity."""
from __future__ import annotations

import numpy as np

from deepscope.atlas.build import Atlas, build_atlas
from deepscope.atlas.collection.store import ActivationStore
from deepscope.errors import DeepscopeError
from deepscope.models.classes import lookup_class

CLASS_LAYOUT = {"n_neighbors": 20, "min_dist": 0.02, "metric": "cosine"}
CLASS_GRID, CLASS_THRESHOLD = 8, 4


def class_index(store: ActivationStore, name: str | int) -> int:
    """A class of the store's classifier by index, exact name or unique part of a name."""
    if store.attr is None or not store.classes:
        raise DeepscopeError("class atlases need attributions: collect with attribution=True (CLI: the default)")
    return lookup_class(store.classes, name)


def select_class(store: ActivationStore, cls: int, top: int = 2000) -> np.ndarray:
    """Rows whose top attribution is `cls`, plus the `top` rows most attributed to it (sorted)."""
    attr = store.attr
    winners = np.flatnonzero(attr.argmax(1) == cls)
    best = np.argsort(-attr[:, cls].astype(np.float32), kind="stable")[:top]
    return np.union1d(winners, best)


def class_atlas(model, store: ActivationStore, cls: str | int, *, top: int = 2000, grid: int = CLASS_GRID,
                threshold: int = CLASS_THRESHOLD, layout: str = "umap", layout_params: dict | None = None,
                **kwargs) -> Atlas:
    """Atlas of the activations attributed to class `cls` (Carter et al.: UMAP 20/0.02/cosine, 8×8,
    threshold 4); each icon's opacity is its cell's mean attribution to the class over the largest."""
    index = class_index(store, cls)
    rows = select_class(store, index, top)
    params = layout_params if layout_params is not None else (CLASS_LAYOUT if layout == "umap" else {})
    atlas = build_atlas(model, store.subset(rows), grid=grid, threshold=threshold, layout=layout,
                        layout_params=params, **kwargs)
    toward = atlas.cell_attribution()[:, index]
    atlas.opacity = np.clip(toward / max(float(toward.max()), 1e-12), 0.0, 1.0)
    atlas.extra["class"] = {"index": index, "name": store.classes[index], "activations": len(rows)}
    return atlas
