"""Feature visualizations of candidate units, rendered through the render driver into a folder
(resumable per batch): a channel's channel objective (mean over space), a cell's icon objective
(dot · cos^4 with the cell's mean activation at the centre, as the atlas renders it)."""
from __future__ import annotations

from pathlib import Path

import torch

from deepscope.data.images import load_image
from deepscope.models.vision_model import VisionModel
from deepscope.probes.multiuse.candidates import Unit
from deepscope.probes.multiuse.validation import ValidationSettings
from deepscope.render import channel, direction_cossim
from deepscope.render.driver import RenderGroup, render_to_folder
from deepscope.render.objectives import Objective

ICON_POWER = 4.0  # the atlas icons' cossim power
FV_JOB = "multiuse"


def unit_objective(layer: str, unit: Unit) -> Objective:
    """What a unit's visualization maximizes; a cell's objective is named after its cell."""
    if unit.kind == "channel":
        return channel(layer, unit.index)
    objective = direction_cossim(layer, torch.as_tensor(unit.direction), ICON_POWER)
    objective.name = f"{unit.name}:{objective.name}"
    return objective


def render_units(model: VisionModel, layer: str, units: list[Unit], folder: Path, settings: ValidationSettings,
                 key: str, progress: bool = True) -> dict[str, torch.Tensor]:
    """Each unit's visualization (3, S, S) in [0, 1], read back from its PNG (so the patch tested is
    the one on disk); `key` ties the renders to the run's settings."""
    folder.mkdir(parents=True, exist_ok=True)
    group = RenderGroup("units", [unit_objective(layer, u) for u in units],
                        {"size": settings.size, "steps": settings.steps, "transforms": settings.transforms})
    entries = render_to_folder(model, [group], folder, batch=16, seed=settings.seed, progress=progress, job=FV_JOB,
                               settings={"model": model.name, "run": key}, overall_sheet=False)
    return {u.name: load_image(folder / e["image"]) for u, e in zip(units, entries)}
