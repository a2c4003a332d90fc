"""`find_multiuse`: the whole job, resumable in its output folder (`.multiuse-state.json`).

1. The store's images are split (seeded): candidates are chosen from the positions of the
   selection images only; the held-out images are where the patches are tested.
2. Units: every channel of the layer and every cell of an atlas of the selection's activations;
   their class support (`support`), their unrelated top classes (`candidates`, `relatedness`).
3. The `top` units with an unrelated pair are rendered (the render driver) and patch-tested
   (`validation`, one job unit per candidate); a sheet each (`sheets`); the report (`report`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from deepscope.errors import DeepscopeError
from deepscope.jobs import Job
from deepscope.models.vision_model import VisionModel
from deepscope.probes.image_set import load_image_set
from deepscope.probes.multiuse.candidates import Unit, rank_units
from deepscope.probes.multiuse.relatedness import class_cosines
from deepscope.probes.multiuse.report import write_report
from deepscope.probes.multiuse.request import MultiuseRequest
from deepscope.probes.multiuse.sheets import Crops, candidate_sheet, class_examples
from deepscope.probes.multiuse.support import holdout_split
from deepscope.probes.multiuse.units import cell_units, channel_units
from deepscope.probes.multiuse.validation import Validator, job_tensor


def find_multiuse(request: MultiuseRequest, model: VisionModel, out: str | os.PathLike,
                  progress: bool = True) -> dict:
    """Run (or resume) the multi-use search into `out`; returns the report (`multiuse.json`)."""
    request.check()
    out = Path(out)
    store = request.store(model, out, progress)
    settings = {**{k: v for k, v in vars(request).items() if k not in ("atlas_store", "images")},
                "model": model.name, "store": str(store.root), "store_digest": store.meta.get("ids_digest"),
                "store_layer": store.layer, "rows": len(store)}
    job = Job(out, "multiuse", settings)
    selection, held = holdout_split(len(store.ids), request.holdout, request.seed)
    cosines = class_cosines(model, len(store.classes))
    ranked = rank_units(layer_units(request, store, selection, job, progress), cosines, request.classes,
                        request.unrelated)
    if request.top > len(ranked):
        raise DeepscopeError(f"--top {request.top} is out of range: {store.layer!r} has {len(ranked)} units "
                             "(channels and atlas cells); use --top 1 to {}".format(len(ranked)))
    candidates = [u for u in ranked[:request.top] if u.flagged]
    records = validate(request, model, store, candidates, held, job, out, progress)
    return write_report(out, model, store, request, ranked, candidates, records, cosines,
                        {"selection": len(selection), "held_out": len(held)})


def layer_units(request: MultiuseRequest, store, selection: np.ndarray, job: Job, progress: bool) -> list[Unit]:
    """Channels and atlas cells of the selection images' positions."""
    from deepscope.atlas.layout import layout
    from deepscope.atlas.request import atlas_grid

    rows = np.flatnonzero(np.isin(store.image, selection))
    if len(rows) < 4:
        raise DeepscopeError(f"the store's selection images hold {len(rows)} positions: collect more images "
                             "or positions per image")
    acts, attr = store.acts[rows], store.attr[rows].astype(np.float32)
    units = channel_units(acts, attr, request.top_positions, rows)

    def fit() -> torch.Tensor:
        with tqdm(total=1, desc=f"layout ({request.layout}, {len(rows)} activations)", disable=not progress) as bar:
            coords = layout(acts, request.layout, seed=request.seed)
            bar.update(1)
        return torch.from_numpy(np.ascontiguousarray(coords))

    coords = job_tensor(job, "layout", fit).numpy()
    grid = request.grid or atlas_grid(len(rows), request.threshold)
    return units + cell_units(acts, attr, coords, grid, request.threshold, rows)


def validate(request: MultiuseRequest, model: VisionModel, store, candidates: list[Unit], held: np.ndarray,
             job: Job, out: Path, progress: bool) -> dict[str, dict]:
    """Render, patch-test and draw each candidate; records by unit name."""
    from deepscope.probes.multiuse.visualize import render_units

    if not candidates:
        return {}
    settings = request.validation()
    fvs = render_units(model, store.layer, candidates, out / "fv", settings, job.key, progress)
    source = Path(store.meta["source"])
    usable = [int(i) for i in held if int(i) not in {f["index"] for f in store.failed}]
    picked = [usable[int(j)] for j in np.linspace(0, len(usable) - 1, min(settings.images, len(usable)))]
    images = load_image_set([source / store.ids[i] for i in picked], model, progress=progress)
    validator = Validator(model, images, job, settings, progress)
    crops = Crops(store, source)
    (out / "sheets").mkdir(exist_ok=True)
    records = {}
    for unit in tqdm(candidates, desc="patch tests", unit="unit", disable=not progress):
        records[unit.name] = validator.validate(unit.name, fvs[unit.name], unit.classes())
        draw_sheet(unit, fvs[unit.name], records[unit.name], store, crops, request.examples,
                   out / "sheets" / f"{unit.name}.png")
    return records


def draw_sheet(unit: Unit, fv: torch.Tensor, record: dict, store, crops: Crops, examples: int, path: Path) -> None:
    """The candidate's sheet: per class, its flip rates over the crops that push the class most."""
    rows = []
    for entry in record["classes"]:
        c = entry["class"]
        picked = class_examples(store, unit, c, examples)
        heading = (f"{store.classes[c]}: support {float(unit.support[c]):+.3f}; patch flips "
                   f"{100 * entry['patch']['best_rate']:.0f}% vs noise {100 * entry['noise']['best_rate']:.0f}% of "
                   f"{entry['eligible']} held-out images: {'validated' if entry['validated'] else 'not validated'}")
        rows.append((heading, [crops.crop(r) for r in picked],
                     [f"{_short(store.ids[store.image[r]])} {float(store.attr[r, c]):+.2f}" for r in picked]))
    candidate_sheet(f"{unit.name} of {store.layer}: score {unit.score:.3f}", fv, rows).save(path)


def _short(image_id: str) -> str:
    """An image id without its folder, extension and ImageNet wnid prefix."""
    stem = Path(image_id).stem
    return stem.split("_", 1)[1] if stem[:1] == "n" and stem[1:9].isdigit() and "_" in stem else stem
