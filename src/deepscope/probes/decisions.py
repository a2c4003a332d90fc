"""Read and write decision files in the format of the texture-vs-shape repository
(`subj,session,trial,rt,object_response,category,condition,imagename`), one file per observer."""
from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepscope.errors import DeepscopeError
from deepscope.probes.shape_bias import Decision, mean_shape_bias, pooled, shape_bias
from deepscope.probes.stimuli import parse_cue_conflict_name

COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")
_HUMAN = re.compile(r"^subject-\d+$")


@dataclass
class DecisionFile:
    """One observer's decisions read from one CSV."""

    path: Path
    subject: str
    decisions: list[Decision]

    @property
    def human(self) -> bool:
        return bool(_HUMAN.match(self.subject))


def read_decisions(path: str | os.PathLike) -> DecisionFile:
    """Parse one decision CSV; a clear error for files in another format."""
    path = Path(path)
    if not path.is_file():
        raise DeepscopeError(f"decision file {str(path)!r} does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("subj", "object_response", "imagename") if c not in (reader.fieldnames or [])]
        if missing:
            raise DeepscopeError(f"{path}: not a decision file, missing column(s) {', '.join(missing)}; expected "
                                 f"the texture-vs-shape CSV columns {','.join(COLUMNS)}")
        rows = list(reader)
    decisions, subjects = [], set()
    for line, row in enumerate(rows, start=2):
        parsed = parse_cue_conflict_name(row["imagename"])
        if parsed is None and row.get("category"):  # a single-cue image (edges, silhouettes)
            parsed = (row["category"], row["category"])
        if parsed is None:
            raise DeepscopeError(f"{path}:{line}: image name {row['imagename']!r} does not end in "
                                 "<shape><k>-<texture><m>.png and the row has no category")
        subjects.add(row["subj"])
        decisions.append(Decision(row["imagename"], parsed[0], parsed[1], row["object_response"].strip()))
    if not decisions:
        raise DeepscopeError(f"{path}: no decisions in the file")
    return DecisionFile(path, min(subjects) if len(subjects) == 1 else path.stem, decisions)


def write_decisions(path: str | os.PathLike, subject: str, decisions: Sequence[Decision]) -> None:
    """Write decisions in the published format, so `--decisions` can score them again."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for trial, d in enumerate(decisions, start=1):
            writer.writerow([subject, 1, trial, "NaN", d.response, d.shape, 0, d.image])


@dataclass
class Observer:
    """A row of the shape-bias table: one model file, or all human subjects together."""

    label: str
    human: bool
    shape_bias: float | None  # humans: mean over subjects; a single file: its own value
    per_category: dict[str, float | None]
    files: list[str]
    detail: dict

    def as_dict(self) -> dict:
        return {"label": self.label, "human": self.human, "shape_bias": self.shape_bias,
                "per_category": self.per_category, "files": self.files, **self.detail}


def score_files(paths: Sequence[str | os.PathLike], categories: Sequence[str]) -> list[Observer]:
    """Shape bias of every decision file; all human subjects (subject-NN) form one 'humans' row."""
    files = [read_decisions(p) for p in paths]
    humans = [f for f in files if f.human]
    observers = []
    if humans:
        results = [shape_bias(f.decisions, categories) for f in humans]
        mean, per_category = mean_shape_bias(results)
        observers.append(Observer(
            "humans", True, mean, per_category, [str(f.path) for f in humans],
            {"subjects": {f.subject: r.shape_bias for f, r in zip(humans, results)},
             "pooled_shape_bias": pooled(results).shape_bias,
             "note": "shape_bias is the mean over subjects; pooled_shape_bias counts all decisions together"}))
    models = [f for f in files if not f.human]
    names = [f.subject for f in models]
    prefix = len(os.path.commonprefix([f.path.stem for f in models])) if len(models) > 1 else 0
    for f in models:
        result = shape_bias(f.decisions, categories)
        label = f.subject if names.count(f.subject) == 1 else f"{f.subject} [{f.path.stem[prefix:] or f.path.stem}]"
        observers.append(Observer(label, False, result.shape_bias, result.per_category, [str(f.path)],
                                  {k: v for k, v in result.as_dict().items() if k not in ("shape_bias", "per_category")}))
    return observers


def expand_paths(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given; folders become their *.csv files (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.csv"))
            if not found:
                raise DeepscopeError(f"no .csv decision files in folder {p}")
            out.extend(found)
        else:
            out.append(p)
    return out
