"""The shape-bias measurement of one model, end to end: decisions (resumable), numbers, plot, report."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from deepscope.data.images import ImageError, load_image
from deepscope.jobs import Job, settings_key, write_json
from deepscope.models.vision_model import VisionModel
from deepscope.probes.decisions import Observer, write_decisions
from deepscope.probes.evaluate import accuracy, decide
from deepscope.probes.shape_bias import shape_bias
from deepscope.probes.shape_plot import PlotEntry, plot_shape_bias
from deepscope.probes.sixteen import SixteenClassMapping
from deepscope.probes.stimuli import Stimulus

STATE_FILE = ".shape-bias-state.json"
SAVE_EVERY = 64  # images between progress saves


class _Decisions:
    """Decisions made so far: a `Job` in `out/STATE_FILE` keyed by the model and mapping, with one
    record per image set (`done[set]`: image path -> response), saved every `SAVE_EVERY` images."""

    def __init__(self, out: Path, model: VisionModel, mapping: SixteenClassMapping):
        settings = {"model": model.name, "categories": list(mapping.categories),
                    "mapping": settings_key(sorted(mapping.indices.items()))}
        self.job = Job(out, "shape-bias", settings, state_name=STATE_FILE, units_name="done")
        self._unsaved = 0

    def known(self, name: str) -> dict[str, str]:
        return self.job.units.setdefault(name, {})

    def add(self, name: str, stimuli_by_name: dict[str, Stimulus], decisions) -> None:
        known = self.known(name)
        for d in decisions:
            known[str(stimuli_by_name[d.image].path)] = d.response
        self._unsaved += len(decisions)
        if self._unsaved >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        self.job.save()
        self._unsaved = 0


def _decide_set(model, name, stimuli, mapping, progress_store, batch_size, progress, skipped: list[dict]):
    """Decisions of every readable stimulus; an unreadable one is skipped and listed in `skipped`
    (the decisions made before it are kept: the run goes on from there)."""
    by_name = {s.name: s for s in stimuli}
    stimuli = list(stimuli)
    while True:
        try:
            return decide(model, stimuli, mapping, batch_size=batch_size, known=progress_store.known(name),
                          progress=progress, desc=name, on_batch=lambda new: progress_store.add(name, by_name, new))
        except ImageError:
            bad = _first_unreadable(stimuli, progress_store.known(name))
            if bad is None:
                raise
            stimuli.remove(bad[0])
            skipped.append({"set": name, "path": str(bad[0].path), "reason": bad[1]})


def _first_unreadable(stimuli: Sequence[Stimulus], known: dict[str, str]) -> tuple[Stimulus, str] | None:
    """The first stimulus not decided yet that cannot be read, with the reason."""
    for stimulus in stimuli:
        if str(stimulus.path) not in known:
            try:
                load_image(stimulus.path)
            except ImageError as err:
                return stimulus, str(err)
    return None


def measure_model(model: VisionModel, mapping: SixteenClassMapping, out: str | os.PathLike,
                  cue_conflict: Sequence[Stimulus], *, edges: Sequence[Stimulus] = (),
                  silhouettes: Sequence[Stimulus] = (), reference: Sequence[Observer] = (),
                  mapping_source: str = "packaged", batch_size: int | None = None,
                  progress: bool = True) -> dict:
    """Decide every image, write decisions CSVs, `shape_bias.png` and `report.json` to `out`; return the report.

    A rerun with the same model and mapping into the same folder reuses the decisions already made.
    """
    out = Path(out)
    store = _Decisions(out, model, mapping)
    started = time.perf_counter()
    report: dict = {"model": model.name, "mapping": mapping_source, "input_size": model.input_size}
    skipped: list[dict] = []
    decisions = _decide_set(model, "cue_conflict", cue_conflict, mapping, store, batch_size, progress, skipped)
    result = shape_bias(decisions, mapping.categories)
    write_decisions(out / "decisions_cue_conflict.csv", model.name, decisions)
    report["cue_conflict"] = {"images": len(decisions), **result.as_dict()}
    for name, stimuli in (("edges", edges), ("silhouettes", silhouettes)):
        if stimuli:
            made = _decide_set(model, name, stimuli, mapping, store, batch_size, progress, skipped)
            acc, per = accuracy(made, mapping.categories)
            write_decisions(out / f"decisions_{name}.csv", model.name, made)
            report[name] = {"images": len(made), "accuracy_16": acc, "per_category": per}
    store.save()
    report["skipped"] = skipped
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["reference"] = [o.as_dict() for o in reference]
    entries = [PlotEntry(o.label, o.shape_bias, o.per_category, o.human) for o in reference if o.human]
    entries.append(PlotEntry(model.name, result.shape_bias, result.per_category))
    plot_shape_bias(entries, mapping.categories, out / "shape_bias.png",
                    title=f"Shape bias of {model.name} on {len(decisions)} cue-conflict images")
    report["plot"] = "shape_bias.png"
    write_json(out / "report.json", report)
    return report


def score_decision_files(observers: Sequence[Observer], categories: Sequence[str], out: str | os.PathLike) -> dict:
    """Report and plot for published decision files only (no model run)."""
    out = Path(out)
    report = {"observers": [o.as_dict() for o in observers], "plot": "shape_bias.png"}
    entries = [PlotEntry(o.label, o.shape_bias, o.per_category, o.human) for o in observers]
    plot_shape_bias(entries, categories, out / "shape_bias.png", title="Shape bias from decision files")
    write_json(out / "report.json", report)
    return report
