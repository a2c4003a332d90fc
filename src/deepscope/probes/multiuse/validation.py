"""The patch test of a candidate: its feature visualization pasted into held-out images (the
probes' placements: width ratios 0.2/0.4/0.7 in every corner), the flip rate to each of its classes
against the same-size noise control (`probes.paste.NoisePatch`). A class is validated when the
patch's flip rate (best size and corner per image) beats the noise's by at least `margin`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from deepscope.jobs import Job
from deepscope.models.vision_model import VisionModel
from deepscope.probes.flips import FlipResult, pasted_top1
from deepscope.probes.image_set import ImageSet, predict
from deepscope.probes.paste import RATIOS, NoisePatch, placements
from deepscope.probes.patch_pairs import eligible_rows

MARGIN = 0.10  # flip-rate points a patch must gain over noise to count as validated


@dataclass
class ValidationSettings:
    size: int = 128  # render size of the feature visualizations
    steps: int = 256
    transforms: str = "strong"  # survives being shrunk into a small patch
    images: int = 100  # held-out images each patch is pasted into
    ratios: list[float] = field(default_factory=lambda: list(RATIOS))
    margin: float = MARGIN
    batch: int = 8
    seed: int = 0


def class_flips(top1: torch.Tensor, before: torch.Tensor, images: ImageSet, target: int,
                names: list[str]) -> FlipResult:
    """Flips to `target` among the images not classified `target` before (`top1`: pasted top-1 per
    image and placement)."""
    rows = eligible_rows(images, before, target, target, "universal")
    return FlipResult(names, rows, top1[rows] == target)


def judge(patch: FlipResult, noise: FlipResult, margin: float = MARGIN) -> dict:
    """Patch against noise for one class: both rates, the margin and whether it is validated."""
    gained = patch.best_rate - noise.best_rate
    return {"eligible": patch.eligible, "patch": _rates(patch), "noise": _rates(noise), "margin": gained,
            "validated": bool(gained >= margin - 1e-9)}


def _rates(result: FlipResult) -> dict:
    name, rate = result.fixed if result.eligible else (None, 0.0)
    return {"best_rate": result.best_rate, "flipped_best": int(result.hits.any(1).sum()), "fixed_placement": name,
            "fixed_rate": rate}


def job_tensor(job: Job, name: str, compute) -> torch.Tensor:
    """A tensor computed once per job settings (`.multiuse-<name>.pt` beside the job's state)."""
    path = Path(job.folder) / f".multiuse-{name}.pt"
    value = job.load_tensors(path) if job.done(name) else None
    if value is None:
        value = compute()
        job.save_tensors(path, value)
        job.finish(name)
    return value


class Validator:
    """Patch tests on one held-out image set, resumable: the predictions before pasting and the noise
    control's are computed once; each candidate is a unit of `job`."""

    def __init__(self, model: VisionModel, images: ImageSet, job: Job, settings: ValidationSettings,
                 progress: bool = True):
        self.model, self.images, self.job, self.settings, self.progress = model, images, job, settings, progress
        self.places = placements(settings.ratios)
        self.names = [p.name for p in self.places]
        self.before = job_tensor(job, "before", lambda: predict(model, images, settings.batch, progress))
        self.noise = job_tensor(job, "noise", lambda: self._top1(NoisePatch(settings.seed), "noise control"))

    def _top1(self, patch, desc: str) -> torch.Tensor:
        return pasted_top1(self.model, self.images, range(len(self.images)), patch, self.places,
                           batch_size=self.settings.batch, progress=self.progress, desc=desc)

    def validate(self, unit: str, patch: torch.Tensor, classes: list[int]) -> dict:
        """The record of `unit`'s patch test (read back when finished before)."""
        return self.job.run(f"validate/{unit}", lambda: self._measure(unit, patch, classes))

    def _measure(self, unit: str, patch: torch.Tensor, classes: list[int]) -> dict:
        top1 = self._top1(patch, unit)
        per_class = []
        for c in classes:
            result = judge(class_flips(top1, self.before, self.images, c, self.names),
                           class_flips(self.noise, self.before, self.images, c, self.names), self.settings.margin)
            per_class.append({"class": int(c), **result})
        passed = sum(entry["validated"] for entry in per_class)
        return {"images": len(self.images), "classes": per_class, "validated": passed >= 1,
                "dual_validated": passed >= 2}
