"""Similarity of two saliency maps, as in Adebayo et al.: Spearman rank correlation, SSIM, HOG.

Maps are 2-D numpy arrays of one size. SSIM and HOG compare maps scaled to [0, 1] (|map| over its
99th percentile); Spearman uses the values as they are. A constant map carries no ranking, so any
correlation with it is 0 (not NaN).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64) - a.mean()
    b = b.ravel().astype(np.float64) - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get their average rank)."""
    return _pearson(rankdata(a.ravel()), rankdata(b.ravel()))


def unit_scale(m: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """|m| scaled to [0, 1] by its `percentile` (so a few extreme pixels do not flatten the rest)."""
    m = np.abs(m).astype(np.float64)
    scale = np.percentile(m, percentile)
    if scale <= 0:
        scale = m.max()
    return np.clip(m / scale, 0, 1) if scale > 0 else m


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Structural similarity (Wang et al. 2004, Gaussian window) of two maps scaled to [0, 1]."""
    x, y = unit_scale(a), unit_scale(b)
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(v):
        return ndimage.gaussian_filter(v, sigma, truncate=3.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = int(3.5 * sigma + 0.5)  # drop the borders the window does not cover fully
    inner = s[pad:-pad, pad:-pad] if min(s.shape) > 2 * pad else s
    return float(inner.mean())


def hog(m: np.ndarray, cell: int = 8, bins: int = 9, block: int = 2) -> np.ndarray:
    """Histogram of oriented gradients (Dalal & Triggs): unsigned orientations, L2-Hys blocks."""
    img = m.astype(np.float64)
    gy, gx = np.zeros_like(img), np.zeros_like(img)
    gy[1:-1, :] = img[2:, :] - img[:-2, :]
    gx[:, 1:-1] = img[:, 2:] - img[:, :-2]
    magnitude = np.hypot(gx, gy)
    orientation = np.rad2deg(np.arctan2(gy, gx)) % 180.0
    index = np.minimum((orientation / (180.0 / bins)).astype(int), bins - 1)
    ch, cw = img.shape[0] // cell, img.shape[1] // cell
    if ch < block or cw < block:
        raise ValueError(f"map of {img.shape} is too small for HOG with {cell}-px cells")
    magnitude = magnitude[:ch * cell, :cw * cell]
    index = index[:ch * cell, :cw * cell]
    cells = np.zeros((ch, cw, bins))
    rows, cols = np.divmod(np.arange(ch * cell * cw * cell), cw * cell)
    np.add.at(cells, (rows // cell, cols // cell, index.ravel()), magnitude.ravel())
    cells /= cell * cell
    blocks = []
    for i in range(ch - block + 1):
        for j in range(cw - block + 1):
            v = cells[i:i + block, j:j + block].ravel()
            v = v / np.sqrt((v * v).sum() + 1e-10)
            v = np.minimum(v, 0.2)
            blocks.append(v / np.sqrt((v * v).sum() + 1e-10))
    return np.concatenate(blocks)


def hog_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the HOG features of two maps scaled to [0, 1]."""
    return _pearson(hog(unit_scale(a)), hog(unit_scale(b)))


def compare(trained_abs: np.ndarray, trained_signed: np.ndarray, abs_map: np.ndarray,
            signed_map: np.ndarray) -> dict[str, float]:
    """Every similarity of Adebayo et al. between a trained model's (H, W) maps and another's."""
    return {
        "spearman_abs": spearman(trained_abs, abs_map),
        "spearman_signed": spearman(trained_signed, signed_map),
        "ssim": ssim(trained_abs, abs_map),
        "hog": hog_similarity(trained_abs, abs_map),
    }


METRICS = ("spearman_abs", "spearman_signed", "ssim", "hog")
