"""Patch candidates: images of what the network associates with class B but not with class A.

A source is any function `(model, a, b) -> list[PatchCandidate]`. Two are built in:
- `RenderSource`: feature visualizations rendered directly: the logit difference B − A, and the
  direction at a mid layer along which the logit difference grows fastest (the mean gradient of
  logit_B − logit_A with respect to that layer's activations, i.e. attribution to B minus to A).
- `AtlasSource`: the two-class comparison of an activation atlas (`deepscope.atlas`): icons of the
  cells that attribute most to B over A, and the class-difference visualization restricted to the
  directions of the comparison's B-side cells (`deepscope.render.subspace`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.autograd.graph import GradientEdge

from deepscope.models.capture import capture
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import LOGITS, VisionModel
from deepscope.render import class_logit, direction, render
from deepscope.render.subspace import restrict_gradient


@dataclass
class PatchCandidate:
    name: str
    image: torch.Tensor  # (3, S, S) in [0, 1]
    source: str
    info: dict = field(default_factory=dict)


CandidateSource = Callable[[VisionModel, int, int], list[PatchCandidate]]


@dataclass
class RenderSettings:
    size: int = 128
    steps: int = 256
    transforms: str = "strong"
    attempts: int = 1
    seed: int = 0
    progress: bool = True


def _gradient_at_source(loss: torch.Tensor, captured: torch.Tensor) -> torch.Tensor:
    """∂loss/∂h for a layer output h that `capture` handed out as a clone: the clone is not on the
    path to `loss`, so the gradient is taken at the clone's source, h itself."""
    node, index = captured.grad_fn.next_functions[0]
    return torch.autograd.grad(loss, GradientEdge(node, index))[0]


def class_difference_direction(model: VisionModel, layer: str, a: int, b: int, images: torch.Tensor,
                               batch_size: int = 8) -> torch.Tensor:
    """Mean over images and positions of ∂(logit_b − logit_a)/∂h at `layer`: a (C,) vector."""
    from deepscope.render.optimize import frozen

    total, count = None, 0
    spec = layer_spec(model, layer, images.shape[-1])  # positions of its canonical grid (a token layer: patches)
    with frozen(model), capture(model, [layer, LOGITS]) as cap:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(model.device).float().requires_grad_(True)
            acts = cap(x)
            logits = acts[LOGITS]
            grid = spec.grid_view(_gradient_at_source((logits[:, b] - logits[:, a]).sum(), acts[layer]))
            per_channel = grid.transpose(0, 1).flatten(1).sum(1) if spec.spatial else grid.sum(0)
            total = per_channel if total is None else total + per_channel
            count += grid.shape[0] * (grid[0, 0].numel() if spec.spatial else 1)
    return (total / count).detach().cpu()


@dataclass
class RenderSource:
    """Feature visualizations from the render engine (no atlas needed)."""

    layer: str
    reference_images: torch.Tensor  # (N, 3, H, W) in [0, 1]: where the gradient direction is measured
    settings: RenderSettings = field(default_factory=RenderSettings)

    def __call__(self, model: VisionModel, a: int, b: int) -> list[PatchCandidate]:
        vec = class_difference_direction(model, self.layer, a, b, self.reference_images)
        vec = vec / vec.norm().clamp_min(1e-12)
        objectives = [class_logit(b) - class_logit(a), direction(self.layer, vec)]
        names = ["logit_difference", f"direction_{self.layer}"]
        s = self.settings
        result = render(model, objectives, size=s.size, steps=s.steps, transforms=s.transforms,
                        attempts=s.attempts, seed=s.seed, progress=s.progress)
        return [PatchCandidate(name, image, "render", {"objective": obj, "score": float(score)})
                for name, image, obj, score in zip(names, result.images, result.objectives, result.scores)]


@dataclass
class AtlasSource:
    """Candidates from an atlas two-class comparison (`deepscope.atlas.compare_classes`) of a store
    collected with attribution:
    - `atlas_icon_i_j`: the icons of the `cells` cells that support B over A most (the paper's patches);
    - `atlas_class_direction`: a visualization of logit(B) − logit(A) whose gradient at the store's
      layer is restricted to the span of the directions of the comparison's cells on B's side
      (x > 0, the `span_cells` that support B most): the class direction built only from the atlas's B
      features (on EfficientNet-Lite0 the same render restricted to 20 A-side cells or to a random
      20-d subspace flips nothing; see docs/probes.md).
    """

    store: object  # deepscope.atlas.ActivationStore collected with attribution=True
    cells: int = 3
    span_cells: int = 20
    grid: int = 10  # the comparison's grid and minimum activations per cell (paper: 10x10)
    threshold: int = 4
    icon_size: int = 80
    icon_steps: int = 256
    settings: RenderSettings = field(default_factory=RenderSettings)
    comparisons: dict = field(default_factory=dict)  # (a, b) -> Comparison, built once per pair

    def comparison(self, model: VisionModel, a: int, b: int):
        from deepscope.atlas import compare_classes

        if (a, b) not in self.comparisons:
            self.comparisons[(a, b)] = compare_classes(model, self.store, a, b, grid=self.grid,
                                                       threshold=self.threshold, icons=None, fidelity=False,
                                                       progress=False)
        return self.comparisons[(a, b)]

    def support(self, model: VisionModel, a: int, b: int, top: int = 5) -> float:
        """How strongly the comparison's B side favours B: the mean of attribution(B) − attribution(A)
        over its `top` cells that support B most (logit units per activation); used to rank pairs."""
        cells = [c for c in self.comparison(model, a, b).toward("b", top) if c.x > 0]
        return float(np.mean([c.attribution_b - c.attribution_a for c in cells])) if cells else 0.0

    def __call__(self, model: VisionModel, a: int, b: int) -> list[PatchCandidate]:
        from deepscope.atlas import IconSettings, render_icons

        side = [c for c in self.comparison(model, a, b).toward("b", self.span_cells) if c.x > 0]
        if not side:
            return []
        top = side[:self.cells]
        directions = torch.stack([torch.as_tensor(c.direction, dtype=torch.float32) for c in side])
        icons, scores = render_icons(model, self.store.layer, directions[:len(top)].numpy(),
                                     IconSettings(size=self.icon_size, steps=self.icon_steps, attempts=1,
                                                  seed=self.settings.seed), progress=False)
        out = [PatchCandidate(f"atlas_icon_{c.grid[0]}_{c.grid[1]}", icon, "atlas",
                              {"cell": list(c.grid), "x": c.x, "attribution_a": c.attribution_a,
                               "attribution_b": c.attribution_b, "count": c.count, "score": float(score)})
                for c, icon, score in zip(top, icons, scores)]
        s = self.settings
        with restrict_gradient(model, self.store.layer, directions):
            result = render(model, [class_logit(b) - class_logit(a)], size=s.size, steps=s.steps,
                            transforms=s.transforms, attempts=s.attempts, seed=s.seed, progress=s.progress)
        out.append(PatchCandidate("atlas_class_direction", result.images[0], "atlas",
                                  {"objective": str(result.objectives[0]), "layer": self.store.layer,
                                   "span_cells": [list(c.grid) for c in side], "score": float(result.scores[0])}))
        return out


def gather_candidates(model: VisionModel, a: int, b: int, sources: Sequence[CandidateSource]) -> list[PatchCandidate]:
    """Every source's candidates, in order; names made unique."""
    out: list[PatchCandidate] = []
    for source in sources:
        for cand in source(model, a, b):
            if any(c.name == cand.name for c in out):
                cand.name = f"{cand.name}_{len(out)}"
            out.append(cand)
    return out
