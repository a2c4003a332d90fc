"""The units of a layer whose class support is measured: every channel, and every cell of an atlas
of the same activations (layout, then a g×g grid; `deepscope.atlas`)."""
from __future__ import annotations

import numpy as np

from deepscope.atlas.grid import bin_layout
from deepscope.probes.multiuse.candidates import Unit
from deepscope.probes.multiuse.support import cell_support, channel_support


def channel_units(acts: np.ndarray, attr: np.ndarray, top: int, rows: np.ndarray) -> list[Unit]:
    """One unit per channel; `rows` maps the rows of `acts` to the store's rows."""
    support, picked = channel_support(acts, attr, top)
    return [Unit("channel", k, support[k], rows[picked[k]]) for k in range(acts.shape[1])]


def cell_units(acts: np.ndarray, attr: np.ndarray, coords: np.ndarray, grid: int, threshold: int,
               rows: np.ndarray) -> list[Unit]:
    """One unit per atlas cell with at least `threshold` activations (`coords`: the layout in [0, 1])."""
    cells = bin_layout(coords, acts, grid, threshold)
    support = cell_support(cells.members, attr)
    return [Unit("cell", i, support[i], rows[members], cell=(int(x), int(y)), direction=cells.directions[i])
            for i, ((x, y), members) in enumerate(zip(cells.cells, cells.members))]
