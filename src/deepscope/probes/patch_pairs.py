"""Choosing class pairs for patch attacks: which images are eligible, and which pairs to try.

The paper's pairs (snorkel → scuba diver, grey whale → great white shark, frying pan → wok) are
classes the network nearly confuses. `confusable_pairs` finds such pairs in the model's own
predictions: for images it assigns to A, how much probability it gives to its runner-up B.
"""
from __future__ import annotations

import torch

from deepscope.probes.image_set import ImageSet


def eligible_rows(images: ImageSet, before: torch.Tensor, a: int, b: int, mode: str) -> list[int]:
    """Images that count for a flip A -> B.

    `targeted`: images of class A (by file name when known, else every image is taken as A) that
    the model classifies as A before the patch. `universal`: every image not classified as B before.
    """
    top1 = before.argmax(1).tolist()
    if mode == "universal":
        return [i for i, p in enumerate(top1) if p != b]
    if mode != "targeted":
        raise ValueError(f"mode must be 'targeted' or 'universal', got {mode!r}")
    labelled = any(label is not None for label in images.labels)
    return [i for i, p in enumerate(top1) if p == a and (not labelled or images.labels[i] == a)]


def confusable_pairs(before: torch.Tensor, count: int = 3, exclude: set[int] | None = None) -> list[dict]:
    """The `count` (A, B) pairs with the largest runner-up probability, one pair per target B.

    Each image votes for (its top-1, its top-2) with the top-2 probability; votes are summed per pair.
    """
    exclude = exclude or set()
    top2 = before.topk(2, dim=1)
    votes: dict[tuple[int, int], float] = {}
    for (a, b), (_, pb) in zip(top2.indices.tolist(), top2.values.tolist()):
        if a in exclude or b in exclude:
            continue
        votes[(a, b)] = votes.get((a, b), 0.0) + pb
    pairs, targets = [], set()
    for (a, b), score in sorted(votes.items(), key=lambda kv: -kv[1]):
        if b in targets:
            continue
        pairs.append({"a": a, "b": b, "confusion": score})
        targets.add(b)
        if len(pairs) == count:
            break
    return pairs
