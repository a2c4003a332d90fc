"""Flip rates: how often pasting a patch makes the model's top-1 the target class.

Per image and placement a hit is `top-1 == target` after pasting. Two summaries, as in Carter et
al. 2019: "best size and corner per image" (a hit at any placement) and "one fixed size and
corner" (the single placement with the most hits).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from deepscope.models.vision_model import VisionModel
from deepscope.probes.image_set import ImageSet
from deepscope.probes.paste import PatchLike, Placement, paste


@dataclass
class FlipResult:
    placements: list[str]
    rows: list[int]  # indices into the image set of the eligible images
    hits: torch.Tensor  # (len(rows), len(placements)) bool

    @property
    def eligible(self) -> int:
        return len(self.rows)

    def per_placement(self) -> dict[str, float]:
        rates = self.hits.float().mean(0) if self.eligible else torch.zeros(len(self.placements))
        return {name: float(r) for name, r in zip(self.placements, rates)}

    @property
    def best_rate(self) -> float:
        """Flip rate with the best size and corner chosen per image."""
        return float(self.hits.any(1).float().mean()) if self.eligible else 0.0

    @property
    def fixed(self) -> tuple[str, float]:
        """The one placement with the highest flip rate, and that rate."""
        rates = self.per_placement()
        name = max(rates, key=rates.get)
        return name, rates[name]

    def flipped_rows(self) -> list[int]:
        return [r for r, h in zip(self.rows, self.hits.any(1).tolist()) if h]

    def as_dict(self) -> dict:
        name, rate = self.fixed
        return {"eligible": self.eligible, "flipped_best": int(self.hits.any(1).sum()), "best_rate": self.best_rate,
                "fixed_placement": name, "fixed_rate": rate, "per_placement": self.per_placement()}


@torch.no_grad()
def pasted_top1(model: VisionModel, images: ImageSet, rows: Sequence[int], patch: PatchLike,
                places: Sequence[Placement], *, batch_size: int = 8, progress: bool = True,
                desc: str = "paste") -> torch.Tensor:
    """(len(rows), len(places)) top-1 class of the images `rows` with `patch` pasted at each placement
    (one pass serves every target class)."""
    rows = list(rows)
    top = torch.zeros(len(rows), len(places), dtype=torch.long)
    bar = tqdm(total=len(rows) * len(places), desc=desc, unit="img", disable=not progress or not rows, leave=False)
    index = torch.tensor(rows, dtype=torch.long)
    for start in range(0, len(rows), batch_size):
        chunk = images.images[index[start:start + batch_size]].to(model.device).float().div_(255.0)
        for j, place in enumerate(places):
            top[start:start + len(chunk), j] = model(paste(chunk, patch, place)).argmax(1).cpu()
            bar.update(len(chunk))
    bar.close()
    return top


def flip_hits(model: VisionModel, images: ImageSet, rows: Sequence[int], patch: PatchLike, target: int,
              places: Sequence[Placement], *, batch_size: int = 8, progress: bool = True,
              desc: str = "paste") -> FlipResult:
    """Paste `patch` at every placement into the images `rows`; record where top-1 becomes `target`."""
    top = pasted_top1(model, images, rows, patch, places, batch_size=batch_size, progress=progress, desc=desc)
    return FlipResult([p.name for p in places], list(rows), top == target)
