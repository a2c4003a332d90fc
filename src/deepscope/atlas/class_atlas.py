"""Class atlas: the activations that matter for one class, drawn with attribution as opacity."""
from __future__ import annotations

import numpy as np

from deepscope.atlas.build import Atlas, build_atlas
from deepscope.atlas.collection.store import ActivationStore
from deepscope.errors import DeepscopeError, unknown_name_error

CLASS_LAYOUT = {"n_neighbors": 20, "min_dist": 0.02, "metric": "cosine"}


def class_index(store: ActivationStore, name: str | int) -> int:
    """A class of the store's classifier by index, exact name or unique part of a name."""
    names = store.classes
    if store.attr is None or not names:
        raise DeepscopeError("class atlases need attributions: collect with attribution=True (CLI: the default)")
    if isinstance(name, int) or str(name).isdigit():
        if not 0 <= int(name) < len(names):
            raise DeepscopeError(f"class index {name} is out of range 0..{len(names) - 1}")
        return int(name)
    wanted = str(name).strip().lower().replace("_", " ")
    lowered = [n.lower() for n in names]
    if wanted in lowered:
        return lowered.index(wanted)
    partial = [i for i, n in enumerate(lowered) if wanted in n]
    if len(partial) == 1:
        return partial[0]
    raise unknown_name_error("class", str(name), [names[i] for i in partial] or names, "give the exact name or its index")


def select_class(store: ActivationStore, cls: int, top: int = 2000) -> np.ndarray:
    """Rows whose top attribution is `cls`, plus the `top` rows most attributed to it (sorted)."""
    attr = store.attr
    winners = np.flatnonzero(attr.argmax(1) == cls)
    best = np.argsort(-attr[:, cls].astype(np.float32), kind="stable")[:top]
    return np.union1d(winners, best)


def class_atlas(model, store: ActivationStore, cls: str | int, *, top: int = 2000, grid: int = 8,
                threshold: int = 4, layout: str = "umap", layout_params: dict | None = None, **kwargs) -> Atlas:
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
