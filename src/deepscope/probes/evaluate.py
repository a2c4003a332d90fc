"""Run a model on stimulus images and turn its 1000-way outputs into 16-way decisions."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from deepscope.data.images import load_image_resized
from deepscope.models.vision_model import VisionModel
from deepscope.probes.shape_bias import Decision
from deepscope.probes.sixteen import SixteenClassMapping
from deepscope.probes.stimuli import Stimulus


def default_batch_size(model: VisionModel) -> int:
    """Small batches on CPU (throughput measured best at 1-4 images there), large ones on a GPU."""
    return 64 if model.device.type != "cpu" else 4


@torch.no_grad()
def decide(model: VisionModel, stimuli: Sequence[Stimulus], mapping: SixteenClassMapping, *,
           batch_size: int | None = None, known: dict[str, str] | None = None, progress: bool = True,
           on_batch: Callable[[list[Decision]], None] | None = None, desc: str = "images") -> list[Decision]:
    """The model's 16-way decision for every stimulus, in order.

    `known` maps image paths already decided (a resumed run) to their response; they are not rerun.
    `on_batch` receives each new batch of decisions (to save progress as it goes).
    """
    known = known or {}
    batch_size = batch_size or default_batch_size(model)
    todo = [s for s in stimuli if str(s.path) not in known]
    responses = dict(known)
    bar = tqdm(total=len(todo), desc=desc, unit="img", disable=not progress or not todo, leave=False)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        images = torch.stack([load_image_resized(s.path, model.input_size) for s in chunk]).to(model.device)
        answers = mapping.decide(model(images))
        new = []
        for s, answer in zip(chunk, answers):
            responses[str(s.path)] = answer
            new.append(Decision(s.name, s.shape, s.texture, answer))
        if on_batch is not None:
            on_batch(new)
        bar.update(len(chunk))
    bar.close()
    return [Decision(s.name, s.shape, s.texture, responses[str(s.path)]) for s in stimuli]


def accuracy(decisions: Sequence[Decision], categories: Sequence[str]) -> tuple[float | None, dict[str, float | None]]:
    """16-way accuracy (response = shape category) overall and per category, for single-cue sets."""
    per: dict[str, list[int]] = {c: [0, 0] for c in categories}
    for d in decisions:
        slot = per.setdefault(d.shape, [0, 0])
        slot[0] += d.response == d.shape
        slot[1] += 1
    hits, total = sum(h for h, _ in per.values()), sum(n for _, n in per.values())
    return (hits / total if total else None), {c: (h / n if n else None) for c, (h, n) in per.items()}
