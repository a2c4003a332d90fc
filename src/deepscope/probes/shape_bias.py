"""Shape bias (Geirhos et al. 2019): of the cue-conflict decisions that pick the shape or the
texture category, the fraction that pick the shape. Images whose shape = texture are dropped."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    """One observer's 16-way answer to one cue-conflict image."""

    image: str
    shape: str
    texture: str
    response: str


@dataclass
class ShapeBias:
    """Counts over the conflict images (shape != texture) and the resulting fractions."""

    shape_hits: int
    texture_hits: int
    conflict_images: int
    per_category: dict[str, float | None] = field(default_factory=dict)  # by shape category

    @property
    def shape_bias(self) -> float | None:
        decided = self.shape_hits + self.texture_hits
        return self.shape_hits / decided if decided else None

    @property
    def cue_accuracy(self) -> float | None:
        """Fraction of conflict images answered with either cue (the rest is neither)."""
        return (self.shape_hits + self.texture_hits) / self.conflict_images if self.conflict_images else None

    def as_dict(self) -> dict:
        return {"shape_bias": self.shape_bias, "shape_hits": self.shape_hits, "texture_hits": self.texture_hits,
                "conflict_images": self.conflict_images, "cue_accuracy": self.cue_accuracy,
                "per_category": self.per_category}


def _bias(shape: int, texture: int) -> float | None:
    return shape / (shape + texture) if shape + texture else None


def shape_bias(decisions: Iterable[Decision], categories: Sequence[str] | None = None) -> ShapeBias:
    """Shape bias overall and per shape category (the paper's per-category marks)."""
    counts: dict[str, list[int]] = {c: [0, 0] for c in categories or ()}
    conflict = 0
    for d in decisions:
        if d.shape == d.texture:
            continue
        conflict += 1
        slot = counts.setdefault(d.shape, [0, 0])
        if d.response == d.shape:
            slot[0] += 1
        elif d.response == d.texture:
            slot[1] += 1
    shape_hits = sum(s for s, _ in counts.values())
    texture_hits = sum(t for _, t in counts.values())
    per_category = {c: _bias(s, t) for c, (s, t) in counts.items()}
    return ShapeBias(shape_hits, texture_hits, conflict, per_category)


def mean_shape_bias(results: Sequence[ShapeBias]) -> tuple[float | None, dict[str, float | None]]:
    """Mean over observers (e.g. the 10 human subjects) of the overall and per-category shape bias."""
    overall = [r.shape_bias for r in results if r.shape_bias is not None]
    cats = list(dict.fromkeys(c for r in results for c in r.per_category))
    per_category = {}
    for c in cats:
        values = [r.per_category[c] for r in results if r.per_category.get(c) is not None]
        per_category[c] = sum(values) / len(values) if values else None
    return (sum(overall) / len(overall) if overall else None), per_category


def pooled(results: Sequence[ShapeBias]) -> ShapeBias:
    """All observers' decisions counted together (shape hits / decided hits over everyone)."""
    total = ShapeBias(sum(r.shape_hits for r in results), sum(r.texture_hits for r in results),
                      sum(r.conflict_images for r in results))
    return total
