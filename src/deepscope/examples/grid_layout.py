"""From codes to a grid of images: a 2-D embedding (t-SNE or UMAP), then every grid cell gets the
nearest embedded image without repeats (a linear assignment), and statistics of how smooth the grid
is: the seam statistic and the label agreement of grid neighbours."""
from __future__ import annotations

import numpy as np
import torch

from deepscope.atlas.layout import layout
from deepscope.errors import DeepscopeError

METHODS = ("tsne", "umap")


def embed_2d(codes: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """(N, 2) embedding of (N, D) codes with cosine distances: t-SNE (perplexity 30, or less for
    small N, PCA init) or UMAP (15 neighbours). On the 1000 ImageNet samples, t-SNE's perplexity
    (5-50) and euclidean vs cosine moved the grid's seam statistic by less than 0.01."""
    n = len(codes)
    if n < 4:
        raise DeepscopeError(f"a map needs at least 4 readable images, got {n}")
    if method not in METHODS:
        raise DeepscopeError(f"unknown layout method {method!r}: choose {' or '.join(METHODS)}")
    check_spread(codes)
    if method == "umap":  # `layout` caps n_neighbors at n - 1 and the perplexity at (n - 1) / 3
        params = {"n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", "init": "random" if n < 16 else "spectral"}
    else:
        params = {"perplexity": 30.0, "metric": "cosine", "learning_rate": "auto"}
    return layout(codes, method, dims=2, seed=seed, normalize=False, **params)


def check_spread(codes: np.ndarray) -> None:
    """A clear error when the codes are (nearly) all the same, e.g. at a tiny input size: no layout
    can order them, and t-SNE and UMAP crash on them."""
    _, counts = np.unique(np.round(codes, 5), axis=0, return_counts=True)
    if len(counts) < 4 or counts.max() > len(codes) / 2:
        raise DeepscopeError(f"{counts.max()} of the {len(codes)} images have the same code ({len(counts)} distinct "
                             "codes): nothing to lay out; use a larger --size (or the model's input size)")


def grid_shape(n: int, rows: int | None = None, cols: int | None = None) -> tuple[int, int]:
    """A grid of 2 to n cells (so that every cell gets an image): the largest square by default."""
    if rows is None and cols is None:
        side = int(np.floor(np.sqrt(n)))
        return side, side
    if (rows is not None and rows < 1) or (cols is not None and cols < 1):
        raise DeepscopeError("the grid needs at least one row and one column")
    rows = rows or max(1, n // cols)
    cols = cols or max(1, n // rows)
    if not 2 <= rows * cols <= n:
        raise DeepscopeError(f"a {rows}x{cols} grid has {rows * cols} cells for {n} images: give --rows and --cols "
                             f"with 2 to {n} cells (every cell holds an image, and cells need a neighbour)")
    return rows, cols


def assign_to_grid(xy: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows, cols) image index of every cell (-1 where there are more cells than images): the
    assignment of images to cells that minimizes the total squared distance between each cell's
    centre and its image's position (embedding scaled to the unit square)."""
    from scipy.optimize import linear_sum_assignment

    span = xy.max(0) - xy.min(0)
    unit = (xy - xy.min(0)) / np.where(span > 0, span, 1)
    cy, cx = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij")
    centres = np.stack([cx.ravel(), cy.ravel()], 1)
    cost = ((centres[:, None, :] - unit[None, :, :]) ** 2).sum(-1)
    cells, images = linear_sum_assignment(cost)
    grid = np.full(rows * cols, -1, dtype=np.int64)
    grid[cells] = images
    return grid.reshape(rows, cols)


def neighbour_pairs(grid: np.ndarray) -> np.ndarray:
    """(P, 2) image indices of horizontally and vertically adjacent filled cells."""
    pairs = [np.stack([grid[:, :-1].ravel(), grid[:, 1:].ravel()], 1),
             np.stack([grid[:-1, :].ravel(), grid[1:, :].ravel()], 1)]
    pairs = np.concatenate(pairs)
    return pairs[(pairs >= 0).all(1)]


def seam_statistic(codes: np.ndarray, grid: np.ndarray, metric: str = "euclidean") -> dict:
    """Mean code distance of grid neighbours / mean over all pairs of placed images (1 = no order)."""
    placed = grid[grid >= 0]
    x = torch.from_numpy(codes[placed]).double()
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        dist = 1 - x @ x.T
    else:
        dist = torch.cdist(x, x)
    where = {int(image): i for i, image in enumerate(placed)}
    pairs = neighbour_pairs(grid)
    neighbours = dist[[where[int(a)] for a in pairs[:, 0]], [where[int(b)] for b in pairs[:, 1]]].mean().item()
    n = len(placed)
    random = (dist.sum().item() - dist.diagonal().sum().item()) / (n * (n - 1))
    nearest = (dist + torch.diag(torch.full((n,), float("inf"), dtype=dist.dtype))).topk(
        min(4, n - 1), dim=1, largest=False).values.mean().item()
    return {"metric": metric, "neighbours": neighbours, "random_pairs": random, "ratio": neighbours / random,
            "neighbour_pairs": len(pairs), "nearest4_ratio": nearest / random, "floor_ratio": neighbours / nearest,
            "floor_note": "ratio / nearest4_ratio: how far the grid is from that floor (1 = at the floor)",
            "nearest4_note": "mean distance of each image to its 4 nearest images / random pairs: what a grid "
                             "would score if every cell's 4 neighbours were its 4 nearest images; a 2-D grid "
                             "cannot do better (border cells, with fewer neighbours, aside)"}


def label_agreement(top5: np.ndarray, grid: np.ndarray) -> dict:
    """How often grid neighbours share their top-1 label (and overlap in top-5) vs random pairs of
    placed images (the chance level, computed exactly)."""
    placed = grid[grid >= 0]
    pairs = neighbour_pairs(grid)
    top1 = top5[:, 0]
    rate = float((top1[pairs[:, 0]] == top1[pairs[:, 1]]).mean())
    _, counts = np.unique(top1[placed], return_counts=True)
    n = len(placed)
    chance = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    sets = top5[placed]
    member = np.zeros((n, int(top5.max()) + 1), dtype=bool)
    member[np.arange(n)[:, None], sets] = True
    shared = member.astype(np.float32) @ member.T.astype(np.float32)
    overlap_chance = float(((shared > 0).sum() - n) / (n * (n - 1)))
    where = {int(image): i for i, image in enumerate(placed)}
    overlap = float(np.mean([shared[where[int(a)], where[int(b)]] > 0 for a, b in pairs]))
    return {"top1_neighbours": rate, "top1_chance": chance, "top1_ratio": rate / chance if chance else None,
            "top5_overlap_neighbours": overlap, "top5_overlap_chance": overlap_chance,
            "top5_overlap_ratio": overlap / overlap_chance if overlap_chance else None}
