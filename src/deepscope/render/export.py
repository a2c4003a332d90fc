"""Write a render to a folder: one PNG per image, a contact sheet and `results.json`."""
from __future__ import annotations

import json
import re
from pathlib import Path

from deepscope.data.images import save_image
from deepscope.render.optimize import RenderResult
from deepscope.viz.output import write_atomic
from deepscope.viz.sheet import contact_sheet


def slug(text: str) -> str:
    """A file-name-safe version of an objective's name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")[:120] or "image"


def save_render(result: RenderResult, out: str | Path, *, sheet_name: str = "contact_sheet.png",
                append_to: list | None = None) -> list[dict]:
    """Save images and a contact sheet; returns (and extends `append_to` with) results entries:
    `{"objective": str, "score": float, "image": path relative to out}`."""
    out = Path(out)
    entries = [] if append_to is None else append_to
    labels = []
    for i, image in enumerate(result.images):
        label = result.label(i)
        name = f"{slug(label)}.png"
        save_image(image, out / name)
        entries.append({"objective": label, "score": float(result.scores[i]), "image": name})
        labels.append(label)
    columns = result.images_per_objective if result.images_per_objective > 1 else None
    contact_sheet(result.images, labels, columns=columns).save(out / sheet_name)
    return entries


def write_results(entries: list[dict], out: str | Path) -> Path:
    """Write `results.json` (a list of objective/score/image entries) atomically."""
    path = Path(out) / "results.json"
    write_atomic(path, json.dumps(entries, indent=2))
    return path
