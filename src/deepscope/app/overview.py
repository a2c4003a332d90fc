"""The model overview: every layer with its output shape, the site's layers marked."""
from __future__ import annotations

import json
from pathlib import Path

from deepscope.models import list_layers
from deepscope.models.vision_model import VisionModel
from deepscope.viz.output import write_atomic


def model_overview(model: VisionModel, layers: list[str], site: Path, extra: dict) -> dict:
    """Write `data/model.json`: model name, input size, all layers (name, kind, shape), the site's layers."""
    infos = list_layers(model)
    shown = set(layers)
    rows = [{"name": i.name, "kind": i.kind, "shape": list(i.shape) if i.shape else None, "calls": i.calls,
             "in_site": i.name in shown} for i in infos]
    summary = {"model": model.name, "input_size": model.input_size,
               "classes": len(model.classes) if model.classes else None, "site_layers": layers, "layers": rows,
               **extra}
    path = Path(site) / "data" / "model.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary, indent=1))
    return summary
