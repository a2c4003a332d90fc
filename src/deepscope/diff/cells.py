"""Per cell of A's layout: how well the map predicts B there, B's direction, and the attribution shift.

For the rows m of a cell: `r2` = 1 − Σ‖y_m − ŷ_m‖² / Σ‖y_m − ȳ‖² (held-out predictions ŷ, ȳ B's mean
over all rows: the share of the cell's departure from B's average that A's activations predict),
`cosine` = cos(mean ŷ_m, mean y_m) (the mapped direction against B's), `change` = 1 − max(r2, 0) in
[0, 1] (0: B there is A's linear image). B's direction is the plain mean of B's rows, as the atlas's
grid takes A's. The top classes come from each model's attribution at the same positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepscope.atlas.grid import Grid
from deepscope.diff.ridge import explained


@dataclass
class CellScores:
    """(M,) arrays over the grid's cells, and (M, Cb) B directions."""

    r2: np.ndarray
    cosine: np.ndarray
    change: np.ndarray
    directions_b: np.ndarray

    def summary(self) -> dict:
        return {"cells": len(self.change), "median_change": round(float(np.median(self.change)), 5),
                "mean_change": round(float(self.change.mean()), 5),
                "median_cell_r2": round(float(np.median(self.r2)), 5),
                "median_cosine": round(float(np.median(self.cosine)), 5)}


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    norm = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v / norm) if norm > 1e-12 else float(np.allclose(u, v))


def cell_scores(grid: Grid, y: np.ndarray, predicted: np.ndarray) -> CellScores:
    """Scores of every cell of `grid` (members index rows of `y`, B's activations, and `predicted`)."""
    y, predicted = np.asarray(y, np.float64), np.asarray(predicted, np.float64)
    mean = y.mean(0)
    r2 = np.array([explained(y[m], predicted[m], mean) for m in grid.members])
    cosine = np.array([_cosine(predicted[m].mean(0), y[m].mean(0)) for m in grid.members])
    directions = np.stack([y[m].mean(0) for m in grid.members]).astype(np.float32)
    return CellScores(r2, cosine, 1.0 - np.clip(r2, 0.0, 1.0), directions)


def top_classes(attr: np.ndarray | None, members: list[np.ndarray], names: list[str] | None,
                top: int = 5) -> list[list[dict]] | None:
    """Per cell, the `top` classes of the cell's mean attribution (None without attributions)."""
    if attr is None:
        return None
    out = []
    for m in members:
        mean = attr[m].astype(np.float64).mean(0)
        out.append([{"index": int(c), "class": names[c] if names else str(c), "attribution": round(float(mean[c]), 5)}
                    for c in np.argsort(-mean)[:top]])
    return out


def survival(tops_a: list[list[dict]] | None, tops_b: list[list[dict]] | None,
             same_classes: bool) -> list[bool] | None:
    """Per cell, whether A's top class is B's top class too (None when the class lists differ)."""
    if tops_a is None or tops_b is None or not same_classes:
        return None
    return [a[0]["index"] == b[0]["index"] for a, b in zip(tops_a, tops_b)]
