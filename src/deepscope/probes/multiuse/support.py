"""Class support: which classes a unit's positions push up, from a store's attributions.

The store keeps, per sampled position p and class c, the attribution `h_p · ∂logit_c/∂h_p` of the
whole position vector, not of one channel. So a unit's support is read from the positions where
the unit is strong:
- a channel k: its `top` most activating positions, weighted by their activation (ReLU'd and
  normalized to sum 1): S_k[c] = Σ_p w_pk · attr[p, c];
- an atlas cell: the plain mean of its positions' attributions (the cell is its own positions).
From both the store's mean attribution over all positions is subtracted, so a class that every
position pushes up does not count as supported by every unit ("lift" over the average position).
"""
from __future__ import annotations

import numpy as np

from deepscope.errors import DeepscopeError


def holdout_split(num_images: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(selection, held-out) image indices: a seeded random `holdout` share of the images is kept out
    of choosing candidates, to validate them on."""
    if not 0 < holdout < 1:
        raise DeepscopeError(f"--holdout {holdout} must be a fraction strictly between 0 and 1")
    order = np.random.default_rng(seed).permutation(num_images)
    held = max(1, min(num_images - 1, round(holdout * num_images)))
    return np.sort(order[held:]), np.sort(order[:held])


def top_rows(acts: np.ndarray, top: int) -> np.ndarray:
    """(C, top) rows of each channel's `top` largest activations, strongest first."""
    top = min(top, len(acts))
    part = np.argpartition(-acts, top - 1, axis=0)[:top].T  # (C, top), unordered
    values = np.take_along_axis(acts.T, part, 1)
    return np.take_along_axis(part, np.argsort(-values, 1, kind="stable"), 1)


def channel_support(acts: np.ndarray, attr: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """((C, classes) support of every channel, (C, top) the rows it was read from); see the module."""
    rows = top_rows(acts, top)
    weights = np.maximum(np.take_along_axis(acts.T, rows, 1), 0).astype(np.float64)
    total = weights.sum(1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    attr = np.asarray(attr, dtype=np.float32)
    support = np.einsum("ct,ctk->ck", weights, attr[rows], optimize=True)
    support -= attr.mean(0, dtype=np.float64)[None] * (total > 0)
    return support.astype(np.float32), rows


def cell_support(members: list[np.ndarray], attr: np.ndarray) -> np.ndarray:
    """(cells, classes) mean attribution of each cell's rows minus the mean over all rows."""
    attr = np.asarray(attr, dtype=np.float32)
    baseline = attr.mean(0, dtype=np.float64)
    out = np.stack([attr[m].mean(0, dtype=np.float64) - baseline for m in members]) if members else \
        np.zeros((0, attr.shape[1]))
    return out.astype(np.float32)
