"""Units (a layer's channels and an atlas's cells) scored for supporting unrelated classes.

A unit's top `k` classes by support are paired; a pair counts when its classes are unrelated
(cosine of their classifier rows below `unrelated`). The unit's score is, over its unrelated pairs,
the largest `min(S_a, S_b) · (1 − cos_ab)`: the weaker of the two supports (both classes must be
pushed up), discounted by how related they still are. Units without such a pair score 0.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from deepscope.probes.multiuse.relatedness import UNRELATED


@dataclass
class Unit:
    """A channel (`index` = channel) or an atlas cell (`cell` = grid (x, y), `direction` its mean
    activation); `rows`: the store rows its support was read from."""

    kind: str
    index: int
    support: np.ndarray  # (classes,)
    rows: np.ndarray
    cell: tuple[int, int] | None = None
    direction: np.ndarray | None = None
    score: float = 0.0
    top: list[int] = field(default_factory=list)  # its top classes, strongest first
    pair: tuple[int, int] | None = None  # the unrelated pair behind the score

    @property
    def name(self) -> str:
        return f"channel_{self.index}" if self.kind == "channel" else f"cell_{self.cell[0]}_{self.cell[1]}"

    @property
    def flagged(self) -> bool:
        return self.pair is not None

    def classes(self) -> list[int]:
        """The classes a patch test measures: the unrelated pair first, then the other top classes."""
        pair = list(self.pair or ())
        return pair + [c for c in self.top if c not in pair]


def score_unit(unit: Unit, cosines: np.ndarray, k: int = 3, unrelated: float = UNRELATED) -> Unit:
    """Fill in `unit.top`, `unit.pair` and `unit.score` (see the module)."""
    top = np.argsort(-unit.support, kind="stable")[:k]
    unit.top = [int(c) for c in top]
    unit.score, unit.pair = 0.0, None
    for a, b in itertools.combinations(unit.top, 2):
        weaker = float(min(unit.support[a], unit.support[b]))
        cos = float(cosines[a, b])
        if cos < unrelated and weaker > 0 and weaker * (1 - cos) > unit.score:
            unit.score, unit.pair = weaker * (1 - cos), (a, b)
    return unit


def rank_units(units: list[Unit], cosines: np.ndarray, k: int = 3, unrelated: float = UNRELATED) -> list[Unit]:
    """Every unit scored, highest score first (ties: channels before cells, then by index)."""
    scored = [score_unit(u, cosines, k, unrelated) for u in units]
    return sorted(scored, key=lambda u: (-u.score, u.kind != "channel", u.index))


def unit_entry(unit: Unit, cosines: np.ndarray, names: list[str]) -> dict:
    """A unit's row of the ranked table."""
    entry = {"unit": unit.name, "kind": unit.kind, "score": round(unit.score, 6), "flagged": unit.flagged,
             "top_classes": [{"class": int(c), "name": names[c], "support": round(float(unit.support[c]), 6)}
                             for c in unit.top]}
    if unit.kind == "channel":
        entry["channel"] = unit.index
    else:
        entry.update(cell=list(unit.cell), positions=len(unit.rows))
    if unit.pair:
        a, b = unit.pair
        entry["pair"] = {"classes": [names[a], names[b]], "cosine": round(float(cosines[a, b]), 4)}
    return entry
