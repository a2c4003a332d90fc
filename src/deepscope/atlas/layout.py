"""Laying activations out in 1 or 2 dimensions: UMAP (default), t-SNE or PCA, then the paper's
percentile normalization into [0, 1]; `spread_layout` evens a clustered layout out over the square.

Above `FIT_LIMIT` activations UMAP (and PCA) is fitted on a seeded sample of that many and places the rest
with `UMAP.transform` (docs/scale.md: the times and the trustworthiness against a full fit)."""
from __future__ import annotations

import warnings

import numpy as np

from deepscope.errors import DeepscopeError

METHODS = ("umap", "tsne", "pca")
# Carter et al. 2019: mixed4a..5b use these; mixed3a/3b n_neighbors 200 with euclidean.
UMAP_DEFAULTS = {"n_neighbors": 50, "min_dist": 0.05, "metric": "cosine"}
TSNE_DEFAULTS = {"metric": "cosine", "perplexity": 50.0, "learning_rate": 10.0}
FIT_LIMIT = 30_000  # UMAP fits on all activations up to this many, on a sample of this many above


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
           fit_limit: int | None = FIT_LIMIT, **params) -> np.ndarray:
    """(N, dims) coordinates in [0, 1] for (N, C) activations; `params` override the defaults.

    UMAP and PCA on more than `fit_limit` activations (None: no limit) are fitted on a sample of
    `fit_limit` of them, drawn with `seed`, and the others are placed by the fitted model
    (t-SNE has no such placement and always fits all).
    """
    acts = np.asarray(acts, dtype=np.float32)
    if method not in METHODS:
        raise DeepscopeError(f"unknown layout {method!r}; choose one of {', '.join(METHODS)}")
    if len(acts) < 4:
        raise DeepscopeError(f"a layout needs at least 4 activations, got {len(acts)}")
    if fit_limit is not None and fit_limit < 4:
        raise DeepscopeError(f"the layout's fit limit must be at least 4, got {fit_limit}")
    if method == "tsne":
        coords = _tsne(acts, dims, seed, params)
    else:
        sample = fit_sample(len(acts), fit_limit, seed)
        fitted = acts if sample is None else acts[sample]
        reducer = {"umap": _umap, "pca": _pca}[method](len(fitted), dims, seed, params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba/umap chatter (n_jobs overridden by random_state, ...)
            coords = reducer.fit_transform(fitted)
            if sample is not None:
                coords = _place_rest(reducer, acts, sample, coords)
    return normalize_layout(coords) if normalize else coords


def fit_sample(n: int, fit_limit: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of the activations a layout is fitted on (None: all of them)."""
    if fit_limit is None or n <= fit_limit:
        return None
    return np.sort(np.random.default_rng([seed, n]).choice(n, size=fit_limit, replace=False))


def _place_rest(reducer, acts: np.ndarray, sample: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """All N coordinates: the fitted sample's, and the others placed by `reducer.transform`."""
    rest = np.setdiff1d(np.arange(len(acts)), sample)
    out = np.empty((len(acts), coords.shape[1]), dtype=coords.dtype)
    out[sample], out[rest] = coords, reducer.transform(acts[rest])
    return out


def _umap(n, dims, seed, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap import UMAP

    options = {**UMAP_DEFAULTS, **params}
    options["n_neighbors"] = int(min(options["n_neighbors"], n - 1))
    return UMAP(n_components=dims, random_state=seed, **options)


def _tsne(acts, dims, seed, params):
    from sklearn.manifold import TSNE

    options = {**TSNE_DEFAULTS, **params}
    options["perplexity"] = float(min(options["perplexity"], (len(acts) - 1) / 3))
    return TSNE(n_components=dims, random_state=seed, init="pca", **options).fit_transform(acts)


def _pca(n, dims, seed, params):
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=seed, **params)
