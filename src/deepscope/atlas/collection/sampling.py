"""Which positions of a layer's activation map are sampled for each image."""
from __future__ import annotations

import numpy as np

TOKENS = ("patches", "class")
CLASS_TOKEN = (-1, 0)  # prefix token 0 (see forward._gather)


def positions_for(index: int, k: int, height: int, width: int, margin: int, seed: int,
                  tokens: str = "patches") -> np.ndarray:
    """k (y, x) positions for image `index`, away from the edges; the same for the same arguments.

    Drawn from a generator seeded by (seed, index) alone, so batching, sharding or resuming never
    change them. Without replacement while there are enough positions. `tokens="class"`: the class
    token of a token layer instead, once per image.
    """
    if tokens == "class":
        return np.array([CLASS_TOKEN], dtype=np.int16)
    margin = min(margin, (height - 1) // 2, (width - 1) // 2)
    ys, xs = np.arange(margin, height - margin), np.arange(margin, width - margin)
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
    rng = np.random.default_rng([seed, index])
    pick = rng.choice(len(grid), size=k, replace=k > len(grid))
    return grid[pick].astype(np.int16)
