"""The one optimization loop: (model, objectives, parameterization, transforms) -> images."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from tqdm.auto import tqdm

from deepscope.errors import DeepscopeError
from deepscope.models.capture import capture
from deepscope.models.rectifiers import override_rectifiers
from deepscope.models.vision_model import VisionModel
from deepscope.render.objectives import Objective
from deepscope.render.param import PARAMS, ParamEntry
from deepscope.render.transforms import Transform, compose, transform_set


@dataclass
class RenderResult:
    """Rendered images (N·n, 3, H, W) in [0, 1] on the CPU, with each image's final score.

    Image `i * n + j` is variant `j` of objective `i` (n = images per objective).
    """

    images: torch.Tensor
    scores: torch.Tensor
    objectives: list[str]
    images_per_objective: int = 1
    history: list[float] = field(default_factory=list)  # mean score per step

    def label(self, index: int) -> str:
        obj = self.objectives[index // self.images_per_objective]
        return obj if self.images_per_objective == 1 else f"{obj}#{index % self.images_per_objective}"

    def _repr_png_(self) -> bytes:  # Jupyter: a contact sheet
        from deepscope.viz.notebook import render_png

        return render_png(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"RenderResult: {len(self.images)} images {tuple(self.images.shape[1:])}, "
                     f"objectives {', '.join(self.objectives[:4])}{' ...' if len(self.objectives) > 4 else ''}")


@contextlib.contextmanager
def frozen(model: torch.nn.Module):
    """Switch off weight gradients (never used when rendering) and restore them afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def channels_last(model: torch.nn.Module):
    """On the CPU, run the model's convolutions in channels-last layout (about 1.2x faster
    forward+backward for oneDNN); the original layout is restored afterwards."""
    weights = [p for p in model.parameters() if p.dim() == 4]
    already = not weights or weights[0].is_contiguous(memory_format=torch.channels_last)
    if already or weights[0].device.type != "cpu":
        yield model
        return
    try:
        model.to(memory_format=torch.channels_last)
        yield model
    finally:
        model.to(memory_format=torch.contiguous_format)


def _group_scores(objectives: Sequence[Objective], acts: dict, group: int, attempts: int) -> torch.Tensor:
    """Scores (B,) where objective i scores its attempts' groups of `group` images each."""
    parts = []
    size = group * attempts
    for i, objective in enumerate(objectives):
        for a in range(attempts):
            start = i * size + a * group
            sliced = {k: v[start:start + group] for k, v in acts.items()}
            parts.append(objective.score(sliced))
    return torch.cat(parts)


def _check_args(size: int, steps: int, objectives) -> None:
    if size < 8:
        raise DeepscopeError(f"image size {size} is too small: use at least 8 pixels")
    if steps < 1:
        raise DeepscopeError(f"steps must be positive, got {steps}")
    if not objectives:
        raise DeepscopeError("nothing to render: give at least one objective")


Optimizer = Callable[[list], torch.optim.Optimizer]


def _image_param(param, batch: int, size: int, generator, device) -> tuple[torch.nn.Module, ParamEntry]:
    """The parameterization module (by name or given) and its registry entry (lr, optimizer)."""
    if isinstance(param, str):
        entry = PARAMS.get(param)
        return entry.factory(batch, size, size, generator=generator).to(device), entry
    if not isinstance(param, torch.nn.Module):
        raise DeepscopeError(f"param must be a name ({', '.join(PARAMS)}) or an nn.Module, not {type(param).__name__}")
    return param.to(device), ParamEntry(type(param))


def _optimizer(image_param, entry: ParamEntry, lr: float | None, optimizer: Optimizer | None):
    params = list(image_param.parameters())
    if not params:
        raise DeepscopeError("the parameterization has nothing to optimize (no parameters)")
    if optimizer is not None:
        return optimizer(params)
    return entry.optimizer(params, lr=lr if lr is not None else entry.lr)


def render(
    model: VisionModel,
    objectives: Objective | Sequence[Objective],
    *,
    size: int = 128,
    steps: int = 256,
    param: str | torch.nn.Module = "fft",
    lr: float | None = None,
    optimizer: Optimizer | None = None,
    transforms: str | Sequence[Transform] = "standard",
    images_per_objective: int = 1,
    attempts: int = 1,
    redirect_steps: int = 16,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> RenderResult:
    """Render images maximizing each objective; all objectives and attempts share one batch.

    - `param`: a registered name (`fft`: Fourier, decorrelated colour; `pixel`; `maco`: phase only) or
      an `nn.Module` whose forward returns the (B, 3, size, size) batch in [0, 1].
    - `optimizer`: a factory `params -> torch.optim.Optimizer` (default: the param's, with `lr`).
    - `transforms`: a registered set name (then cropped back to `size`) or a list of transforms,
      step-aware ones (`StepTransform`) included.
    - `images_per_objective`: n images per objective (objectives such as `diversity` see all n).
    - `attempts`: render each objective this many times and keep the best (highest final score).
    - `redirect_steps`: first steps with the redirected ReLU gradient (wakes dead units).
    Objectives read layers in their canonical layout, and `"input"` (the images the model sees).
    Same seed, same images. The final score is measured on the untransformed image. A model fixed to
    one input size renders at that size (`VisionModel.accepted_size`, a note on stderr).
    """
    objectives = [objectives] if isinstance(objectives, Objective) else list(objectives)
    _check_args(size, steps, objectives)
    size = model.accepted_size(size)
    generator = torch.Generator().manual_seed(seed)
    group, batch = images_per_objective, len(objectives) * images_per_objective * attempts
    image_param, entry = _image_param(param, batch, size, generator, model.device)
    opt = _optimizer(image_param, entry, lr, optimizer)
    transform = compose(transform_set(transforms, size) if isinstance(transforms, str) else transforms)
    layers = list(dict.fromkeys(layer for o in objectives for layer in o.layers))
    score = partial(_group_scores, objectives, group=group, attempts=attempts)
    with frozen(model), channels_last(model), capture(model, layers, truncate=True, canonical=True) as cap:
        history = _optimize(lambda step: score(cap(transform(image_param(), generator, step))), opt, steps,
                            redirect_steps, progress, callback)
        with torch.no_grad():
            final = image_param()
            final_scores = score(cap(final))
    images, scores = _best_attempts(final, final_scores, len(objectives), group, attempts)
    return RenderResult(images.cpu(), scores.cpu(), [o.name for o in objectives], group, history)


def _optimize(step_scores: Callable[[int], torch.Tensor], opt, steps: int, redirect_steps: int, progress: bool,
              callback) -> list[float]:
    """The optimization steps; returns the mean score per step. The first `redirect_steps` use the
    redirected ReLU gradient, unless the model has no rectifier (a transformer)."""
    history = []
    bar = tqdm(range(steps), desc="render", disable=not progress, leave=False)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        redirect = override_rectifiers("redirected") if step < redirect_steps else contextlib.nullcontext()
        with redirect:
            scores = step_scores(step)
        if step == 0 and getattr(redirect, "calls", 1) == 0:
            redirect_steps = 0  # nothing to redirect: plain steps cost less
        _backward(scores, step)
        opt.step()
        history.append(scores.detach().mean().item())
        if progress and step % 16 == 0:
            bar.set_postfix(score=f"{history[-1]:.3g}")
        if callback is not None:
            callback(step, scores.detach())
    return history


def _backward(scores: torch.Tensor, step: int) -> None:
    loss = -scores.sum()
    if not torch.isfinite(loss):
        raise DeepscopeError(f"the objective became {loss.item()} at step {step}: lower the learning "
                             "rate (--lr) or check the model for NaNs")
    loss.backward()


def _best_attempts(images, scores, n_objectives: int, group: int, attempts: int):
    """Keep, per objective, the attempt whose images score highest in total."""
    if attempts == 1:
        return images, scores
    shaped = scores.view(n_objectives, attempts, group)
    best = shaped.sum(-1).argmax(1)
    keep = torch.cat([(i * attempts + best[i]) * group + torch.arange(group) for i in range(n_objectives)])
    return images[keep], scores[keep]


def score_images(model: VisionModel, objectives: Sequence[Objective], images: torch.Tensor,
                 batch_size: int = 32) -> torch.Tensor:
    """Score of each image under each objective, (N_images, N_objectives), no gradients."""
    layers = list(dict.fromkeys(layer for o in objectives for layer in o.layers))
    rows = []
    with torch.no_grad(), capture(model, layers, truncate=True, canonical=True) as cap:
        for start in range(0, len(images), batch_size):
            acts = cap(images[start:start + batch_size].to(model.device))
            rows.append(torch.stack([o.score(acts) for o in objectives], 1).cpu())
    return torch.cat(rows) if rows else torch.zeros(0, len(objectives))


__all__ = ["RenderResult", "frozen", "render", "score_images"]
