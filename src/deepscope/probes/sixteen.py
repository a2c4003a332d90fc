"""The 16 categories of the texture-vs-shape stimuli and the 1000-way -> 16-way decision rule.

A copy of `sixteen_class_mapping.json` (Geirhos et al. 2019, CC BY 4.0; see `probes/data/README.md`)
ships with the package, so nothing outside it is needed; `load_mapping(path)` reads another copy.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from deepscope.errors import DeepscopeError

MAPPING_FILE = "sixteen_class_mapping.json"


@dataclass(frozen=True)
class SixteenClassMapping:
    """Category names (in a fixed order) and the ImageNet class indices that make up each."""

    categories: tuple[str, ...]
    indices: dict[str, tuple[int, ...]]
    decision_rule: str = ""

    def category_probabilities(self, probabilities: torch.Tensor) -> torch.Tensor:
        """(B, 1000) softmax probabilities -> (B, 16): mean probability over each category's classes."""
        if probabilities.shape[-1] <= max(max(v) for v in self.indices.values()):
            raise DeepscopeError(f"the 16-class mapping needs ImageNet-1k outputs, the model has "
                                 f"{probabilities.shape[-1]} classes")
        cols = [probabilities[:, list(self.indices[c])].mean(1) for c in self.categories]
        return torch.stack(cols, 1)

    def decide(self, logits: torch.Tensor) -> list[str]:
        """The 16-way decision for each row of (B, 1000) logits (softmax, category mean, argmax)."""
        probs = self.category_probabilities(torch.softmax(logits.float(), dim=1))
        return [self.categories[i] for i in probs.argmax(1).tolist()]


def load_mapping(path: str | os.PathLike | None = None) -> SixteenClassMapping:
    """The mapping from `path`, or the copy shipped in the package when `path` is None."""
    if path is None:
        text = resources.files("deepscope.probes").joinpath("data", MAPPING_FILE).read_text()
        source = f"the packaged {MAPPING_FILE}"
    else:
        if not Path(path).is_file():
            raise DeepscopeError(f"mapping file {str(path)!r} does not exist (give a {MAPPING_FILE}, "
                                 "or leave --mapping out to use the packaged copy)")
        text, source = Path(path).read_text(), str(path)
    try:
        raw = json.loads(text)
        categories = tuple(raw["categories"])
        indices = {c: tuple(int(i) for i in raw["imagenet_indices"][c]) for c in categories}
    except (ValueError, KeyError, TypeError) as err:
        raise DeepscopeError(f"{source} is not a 16-class mapping: expected JSON with 'categories' (names) and "
                             f"'imagenet_indices' (name -> list of class indices); {type(err).__name__}: {err}") from err
    empty = [c for c, v in indices.items() if not v]
    if empty or not categories:
        raise DeepscopeError(f"{source}: categories without ImageNet classes: {', '.join(empty) or 'all'}")
    return SixteenClassMapping(categories, indices, str(raw.get("decision_rule", "")))
