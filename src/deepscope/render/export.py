"""Write a render to a folder: one PNG per image, a contact sheet and `results.json`."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from deepscope.data.images import load_image, save_image
from deepscope.jobs import write_json
from deepscope.render.objectives import Objective
from deepscope.render.optimize import RenderResult
from deepscope.viz.sheet import contact_sheet


def slug(text: str) -> str:
    """A file-name-safe version of an objective's name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")[:120] or "image"


def save_render(result: RenderResult, out: str | Path, *, sheet_name: str = "contact_sheet.png",
                objectives: Sequence[Objective] | None = None, append_to: list | None = None) -> list[dict]:
    """Save images and a contact sheet; returns (and extends `append_to` with) results entries:
    `{"objective", "score", "image" (relative to out), "layer", "unit", "variant", "kind"}`, the
    last four from the objectives' `meta` (None where unknown)."""
    out = Path(out)
    entries = [] if append_to is None else append_to
    labels = []
    n = result.images_per_objective
    for i, image in enumerate(result.images):
        label = result.label(i)
        name = f"{slug(label)}.png"
        save_image(image, out / name)
        meta = objectives[i // n].meta if objectives is not None else {}
        entries.append({"objective": label, "score": float(result.scores[i]), "image": name,
                        "layer": meta.get("layer"), "unit": meta.get("unit"), "variant": i % n if n > 1 else None,
                        "kind": meta.get("kind")})
        labels.append(label)
    contact_sheet(result.images, labels, columns=n if n > 1 else None).save(out / sheet_name)
    return entries[-len(result.images):] if append_to is not None else entries


def contact_sheet_of(out: str | Path, entries: list[dict], name: str = "contact_sheet.png",
                     columns: int = 8) -> Path:
    """One contact sheet of every image listed in `entries` (read back from `out`)."""
    out = Path(out)
    images = [load_image(out / e["image"]) for e in entries]
    path = out / name
    contact_sheet(images, [e["objective"] for e in entries], columns=min(columns, len(images))).save(path)
    return path


def write_results(entries: list[dict], out: str | Path) -> Path:
    """Write `results.json` (a list of objective/score/image entries) atomically."""
    path = Path(out) / "results.json"
    write_json(path, entries, indent=2)
    return path
