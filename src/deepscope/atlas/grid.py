"""Binning a layout into a g×g grid: a cell's direction is the plain mean of its activations."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepscope.errors import DeepscopeError


@dataclass
class Grid:
    """Occupied cells of a g×g grid over a [0, 1]² layout.

    `cells` (M, 2) grid positions (x, y), `counts` (M,), `directions` (M, C) mean activations,
    `members[i]` the activation rows in cell i. Cells with fewer than `threshold` points are dropped.
    """

    size: int
    threshold: int
    cells: np.ndarray
    counts: np.ndarray
    directions: np.ndarray
    members: list[np.ndarray]
    dropped: int  # activations that fell in cells below the threshold

    def __len__(self) -> int:
        return len(self.cells)


def cell_of(coords: np.ndarray, size: int) -> np.ndarray:
    """(N, 2) grid positions of [0, 1] coordinates."""
    return np.clip(np.floor(np.asarray(coords) * size).astype(np.int64), 0, size - 1)


def bin_layout(coords: np.ndarray, acts: np.ndarray, size: int, threshold: int = 5, min_kept: float = 0.1) -> Grid:
    """Bin activations by their layout position; keep cells with at least `threshold` of them.

    A grid so fine that its kept cells hold under `min_kept` of the activations is refused with
    the largest grid size the data supports.
    """
    if size < 1:
        raise DeepscopeError(f"grid size must be at least 1, got {size}")
    if len(coords) != len(acts):
        raise ValueError("layout and activations differ in length")
    pos = cell_of(coords, size)
    keys = pos[:, 0] * size + pos[:, 1]
    order = np.argsort(keys, kind="stable")
    unique, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
    keep = counts >= max(threshold, 1)
    if counts[keep].sum() < max(min_kept * len(acts), 1):
        raise DeepscopeError(
            f"a {size}x{size} grid is finer than {len(acts)} activations support: its cells with at least "
            f"{threshold} activations hold {counts[keep].sum()} of them; use --grid "
            f"{suggest_grid(coords, threshold)} or less, a lower threshold, or more images/positions")
    sums = np.add.reduceat(np.asarray(acts, dtype=np.float64)[order], starts, axis=0)
    members = np.split(order, starts[1:])
    return Grid(size, threshold, np.stack([unique[keep] // size, unique[keep] % size], 1), counts[keep],
                (sums[keep] / counts[keep, None]).astype(np.float32), [m for m, k in zip(members, keep) if k],
                int(counts[~keep].sum()))


def suggest_grid(coords: np.ndarray, threshold: int, min_kept: float = 0.5) -> int:
    """The largest grid size whose kept cells still hold `min_kept` of the activations (at least 1)."""
    for size in range(int(np.sqrt(len(coords))) + 1, 0, -1):
        _, counts = np.unique(cell_of(coords, size) @ np.array([size, 1]), return_counts=True)
        if counts[counts >= threshold].sum() >= min_kept * len(coords):
            return size
    return 1


def whitening(acts: np.ndarray) -> np.ndarray:
    """S = pinv(AᵀA / N), the uncentred second moment's pseudo-inverse (icon objective v' = v·S)."""
    acts = np.asarray(acts, dtype=np.float64)
    return np.linalg.pinv(acts.T @ acts / max(len(acts), 1)).astype(np.float32)
