"""Laying activations out in 1 or 2 dimensions: UMAP (default), t-SNE or PCA, then the paper's
percentile normalization into [0, 1]; `spread_layout` evens a clustered layout out over the square."""
from __future__ import annotations

import warnings

import numpy as np

from deepscope.errors import DeepscopeError

METHODS = ("umap", "tsne", "pca")
# Carter et al. 2019: mixed4a..5b use these; mixed3a/3b n_neighbors 200 with euclidean.
UMAP_DEFAULTS = {"n_neighbors": 50, "min_dist": 0.05, "metric": "cosine"}
TSNE_DEFAULTS = {"metric": "cosine", "perplexity": 50.0, "learning_rate": 10.0}


def normalize_layout(coords: np.ndarray, low: float = 1, high: float = 99, widen: float = 0.1) -> np.ndarray:
    """Clip each axis to its [low, high] percentile range widened by `widen`, rescale to [0, 1]."""
    coords = np.asarray(coords, dtype=np.float64)
    lo, hi = np.percentile(coords, low, axis=0), np.percentile(coords, high, axis=0)
    span = hi - lo
    lo, hi = lo - widen * span, hi + widen * span
    scale = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((coords - lo) / scale, 0.0, 1.0)


def spread_layout(coords: np.ndarray) -> np.ndarray:
    """Each axis replaced by its ranks, scaled into (0, 1): the order along each axis is kept and
    clusters stretch, so that a grid over the layout fills (a few photos' activations form tight
    islands in UMAP, which a plain grid leaves mostly empty). Ties share their mean rank."""
    from scipy.stats import rankdata

    coords = np.asarray(coords, dtype=np.float64)
    return np.stack([(rankdata(axis) - 0.5) / len(axis) for axis in coords.T], 1)


def layout(acts: np.ndarray, method: str = "umap", *, dims: int = 2, seed: int = 0, normalize: bool = True,
           **params) -> np.ndarray:
    """(N, dims) coordinates in [0, 1] for (N, C) activations; `params` override the defaults."""
    acts = np.asarray(acts, dtype=np.float32)
    if method not in METHODS:
        raise DeepscopeError(f"unknown layout {method!r}; choose one of {', '.join(METHODS)}")
    if len(acts) < 4:
        raise DeepscopeError(f"a layout needs at least 4 activations, got {len(acts)}")
    coords = {"umap": _umap, "tsne": _tsne, "pca": _pca}[method](acts, dims, seed, params)
    return normalize_layout(coords) if normalize else coords


def _umap(acts, dims, seed, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba/umap chatter (n_jobs overridden by random_state, ...)
        from umap import UMAP

        options = {**UMAP_DEFAULTS, **params}
        options["n_neighbors"] = int(min(options["n_neighbors"], len(acts) - 1))
        return UMAP(n_components=dims, random_state=seed, **options).fit_transform(acts)


def _tsne(acts, dims, seed, params):
    from sklearn.manifold import TSNE

    options = {**TSNE_DEFAULTS, **params}
    options["perplexity"] = float(min(options["perplexity"], (len(acts) - 1) / 3))
    return TSNE(n_components=dims, random_state=seed, init="pca", **options).fit_transform(acts)


def _pca(acts, dims, seed, params):
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=seed, **params).fit_transform(acts)
