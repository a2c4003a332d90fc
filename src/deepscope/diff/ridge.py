"""The linear map from A's activations to B's: ridge least squares, cross-fitted over images.

The positions are split into `folds` groups of whole images (`GroupKFold`: no image on both sides of
a split); each fold's rows are predicted by a map fitted on the other folds, so every row has a
held-out prediction and the reported R² is a held-out one. Each fit standardizes A's channels and
picks the ridge penalty by efficient leave-one-out (`RidgeCV`, one penalty for all of B's channels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepscope.errors import DeepscopeError

ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))  # penalties on standardized inputs
FOLDS = 5


@dataclass
class LinearMap:
    """`predicted` (N, Cb) held-out predictions of B's activations; `r2` their variance-weighted R²
    (1 − Σ‖y − ŷ‖² / Σ‖y − ȳ‖²); `alphas` the penalty chosen in each fold; `fold_r2` per fold."""

    predicted: np.ndarray
    r2: float
    alphas: list[float]
    fold_r2: list[float]

    def summary(self) -> dict:
        return {"heldout_r2": round(self.r2, 5), "folds": len(self.fold_r2),
                "fold_r2": [round(v, 5) for v in self.fold_r2], "alphas": self.alphas}


def explained(y: np.ndarray, predicted: np.ndarray, mean: np.ndarray | None = None) -> float:
    """1 − Σ‖y − ŷ‖² / Σ‖y − mean‖² (mean: y's own by default); 1.0 when y does not vary and is hit."""
    y, predicted = np.asarray(y, np.float64), np.asarray(predicted, np.float64)
    mean = y.mean(0) if mean is None else mean
    residual, total = float(((y - predicted) ** 2).sum()), float(((y - mean) ** 2).sum())
    if total <= 1e-12 * max(len(y), 1):
        return 1.0 if residual <= 1e-12 * max(len(y), 1) else 0.0
    return 1.0 - residual / total


def fit_map(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = FOLDS) -> LinearMap:
    """Held-out predictions of `y` (N, Cb) from `x` (N, Ca), folds made of whole `groups` (images)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images = len(np.unique(groups))
    if images < 2:
        raise DeepscopeError(f"fitting the map needs positions from at least 2 images, got {images}; give more images")
    folds = min(folds, images)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    predicted = np.zeros_like(y)
    alphas, fold_r2 = [], []
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        fit = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(x[train], y[train])
        predicted[test] = fit.predict(x[test])
        alphas.append(float(fit[-1].alpha_))
        fold_r2.append(explained(y[test], predicted[test]))
    return LinearMap(predicted.astype(np.float32), explained(y, predicted), alphas, fold_r2)
