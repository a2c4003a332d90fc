"""The one driver that batches objectives into `render()`: in memory, or to a folder, resumably.

`render_batches` cuts groups of objectives into batches and renders each (seed + batch number);
`render_to_folder` does the same under a `Job`, writing one PNG per image, a contact sheet per
batch and `results.json` as each batch finishes, so a rerun with the same settings renders only
the batches that are missing. The CLI's `render`, the dataset examples' feature visualizations,
the site's unit pages and the atlas icons all render through here.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from deepscope.jobs import Job, read_json
from deepscope.models.vision_model import VisionModel
from deepscope.render.export import contact_sheet_of, save_render, write_results
from deepscope.render.objectives import Objective
from deepscope.render.optimize import RenderResult, render


@dataclass
class RenderGroup:
    """Objectives rendered with the same `render()` options (e.g. one layer's channels, or classes)."""

    title: str
    objectives: list[Objective]
    options: dict = field(default_factory=dict)

    def settings(self) -> dict:
        return {"title": self.title, "objectives": [o.name for o in self.objectives],
                "options": {k: v for k, v in self.options.items() if k != "progress"}}


@dataclass
class Batch:
    """One batch of a group: `index` counts batches over all groups (its seed is seed + index)."""

    index: int
    group: RenderGroup
    number: int  # batch number within the group
    objectives: list[Objective]

    @property
    def unit(self) -> str:
        return f"{self.group.title}/{self.number}"


def _as_groups(groups, options: dict) -> list[RenderGroup]:
    if isinstance(groups, Objective):
        groups = [groups]
    groups = list(groups)
    if groups and isinstance(groups[0], Objective):
        return [RenderGroup("objectives", groups, dict(options))]
    return [RenderGroup(g.title, g.objectives, {**options, **g.options}) for g in groups]


def plan_batches(groups: Sequence[RenderGroup], batch: int) -> list[Batch]:
    """Every group cut into batches of at most `batch` objectives, numbered in order."""
    batches: list[Batch] = []
    for group in groups:
        for number, start in enumerate(range(0, len(group.objectives), batch)):
            batches.append(Batch(len(batches), group, number, group.objectives[start:start + batch]))
    return batches


def render_batch(model: VisionModel, item: Batch, seed: int, progress: bool) -> RenderResult:
    return render(model, item.objectives, seed=seed + item.index, **{"progress": progress, **item.group.options})


def render_batches(model: VisionModel, groups, *, batch: int = 16, seed: int = 0, progress: bool = True,
                   skip: Sequence[str] = (), desc: str = "batches", **options) -> Iterator[tuple[Batch, RenderResult]]:
    """Render `groups` (RenderGroups, or objectives sharing `options`) batch by batch, in memory.

    Yields (batch, result); batches whose unit is in `skip` are left out (finished before).
    """
    todo = [b for b in plan_batches(_as_groups(groups, options), batch) if b.unit not in skip]
    bar = tqdm(todo, desc=desc, unit="batch", disable=not progress or len(todo) < 2)
    for item in bar:
        bar.set_postfix_str(item.group.title)
        yield item, render_batch(model, item, seed, progress)
    bar.close()


def render_to_folder(model: VisionModel, groups, out: str | os.PathLike, *, batch: int = 16, seed: int = 0,
                     progress: bool = True, settings: dict | None = None, job: str = "render",
                     overall_sheet: bool = True, **options) -> list[dict]:
    """Render `groups` into `out`, resumably; returns the `results.json` entries.

    Each entry: `objective` (its name, `#j` for variant j), `score`, `image` (relative path),
    `layer`, `unit`, `variant`, `kind`. `settings` adds what the objectives' names do not say
    (model, weights) to the job's key. Entries of other jobs in `results.json` are kept.
    """
    out = Path(out)
    groups = _as_groups(groups, options)
    batches = plan_batches(groups, batch)
    ours = {e.get("image") for e in recorded_entries(out, job)}  # this job's, also under other settings
    state = Job(out, job, {"groups": [g.settings() for g in groups], "batch": batch, "seed": seed,
                           **(settings or {})}, state_name=_state_name(job))
    others = [e for e in (read_json(out / "results.json") or []) if isinstance(e, dict) and e.get("image") not in ours]
    many = len(batches) > 1
    for item, result in render_batches(model, groups, batch=batch, seed=seed, progress=progress,
                                       skip=list(state.units)):
        sheet = _sheet_name(job, f"_{_safe(item.group.title)}_{item.number}" if many else "")
        state.finish(item.unit, save_render(result, out, sheet_name=sheet, objectives=item.objectives))
        write_results(others + _entries(state, batches), out)
    entries = _entries(state, batches)
    if many and overall_sheet:
        contact_sheet_of(out, entries, name=_sheet_name(job))
    write_results(others + entries, out)
    return entries


def recorded_entries(out: str | os.PathLike, job: str = "render") -> list[dict]:
    """The `results.json` entries that job `job` has recorded in `out`, whatever its settings
    (to tell its images from other jobs' ones)."""
    state = read_json(Path(out) / _state_name(job))
    units = state.get("units") if isinstance(state, dict) else None
    return [e for record in (units or {}).values() if isinstance(record, list) for e in record]


def _sheet_name(job: str, part: str = "") -> str:
    """`contact_sheet<part>.png`; other jobs than `render` add their name, so that they share a
    folder with a render run without overwriting its sheets."""
    return f"contact_sheet{'' if job == 'render' else '_' + job}{part}.png"


def _state_name(job: str) -> str:
    return f".{job}-state.json"


def _entries(state: Job, batches: list[Batch]) -> list[dict]:
    return [e for b in batches if state.done(b.unit) for e in state.record(b.unit)]


def _safe(title: str) -> str:
    return title.replace("/", "_").replace(".", "_")
