"""`deepscope examples` as a function: top-k dataset examples of every channel of a layer, with
receptive-field crops, deconvnet projections, sheets beside feature visualizations and a JSON index.

Output folder: `examples.json`, `overview.png` (a row per channel), `channels/<layer>_<c>.png`
(one sheet per channel), `.examples-state.pt` (the resumable pass), `fv/` (with `with_fv`); a rerun
with the same settings reads the finished report back (`Job` "examples-report").
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from deepscope.data.images import ImageError, load_image, resize_center_crop
from deepscope.data.stream import no_readable_images_error
from deepscope.examples.collect import PER_GROUP, Collection, collect_top_examples
from deepscope.examples.crops import box_in_original, field_crop
from deepscope.examples.deconv import deconv_problem, project_units, projection_image
from deepscope.examples.fv import find_fv_images, render_fv
from deepscope.examples.receptive_field import ReceptiveField, receptive_field
from deepscope.examples.sheets import channel_sheet, overview_sheet
from deepscope.jobs import Job, read_json, write_text
from deepscope.models.vision_model import VisionModel
from deepscope.render.export import slug
from deepscope.viz.output import prepare_output_dir

STATE_FILE = ".examples-state.pt"
REPORT = "examples.json"
SCORE_NOTE = ("score = spatial max of the channel's activation map over the image (the strongest position, "
              "whose receptive field is the crop); mean = its spatial mean")
OVERVIEW_ROWS = 64
CROP_FILL = 0.5  # where the image clips a receptive field
CHANNEL_CHUNK = 32  # channels whose top images are held in memory at once


class ExamplesReport(dict):
    """The `examples.json` report (a plain dict) with its `folder`; Jupyter shows its overview."""

    def __init__(self, report: dict, folder: Path):
        super().__init__(report)
        self.folder = Path(folder)

    def _repr_png_(self) -> bytes | None:
        from deepscope.viz.notebook import file_png

        return file_png(self.folder / self["overview"]) if self.get("overview") else None

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"ExamplesReport of {self.get('layer')}: {len(self.get('channels', []))} channels "
                     f"in {self.folder}")


def _finished_report(job: Job, out: Path) -> dict | None:
    """The report of the finished run with the same settings, if it and all its sheets are still there."""
    report = read_json(out / REPORT) if job.done(REPORT) else None
    if not isinstance(report, dict) or report.get("key") != job.key:
        return None
    sheets = [out / ch["sheet"] for ch in report.get("channels", []) if ch.get("sheet")]
    return report if all(p.is_file() for p in sheets) else None


def _load_inputs(files: Sequence[Path], indices, size: int) -> dict[int, tuple[torch.Tensor, tuple[int, int]]]:
    """{index: (network input (3, size, size), original (h, w))} for the top images."""
    loaded = {}
    for i in sorted({int(i) for i in indices if i >= 0}):
        try:
            image = load_image(files[i])
        except ImageError:  # changed on disk since the pass; its entries keep their scores, no crop
            continue
        loaded[i] = (resize_center_crop(image, size), tuple(image.shape[1:]))
    return loaded


def _projections(model, layer, collection: Collection, inputs, count: int,
                 rows: Sequence[int]) -> dict[tuple[int, int], torch.Tensor]:
    """{(channel row, rank): deconvnet projection} for the `count` best examples of channel `rows`."""
    jobs = [(row, rank) for row in rows for rank in range(count)
            if int(collection.topk.images[row, rank]) in inputs]
    if not jobs:
        return {}
    topk = collection.topk
    images = torch.stack([inputs[int(topk.images[r, k])][0] for r, k in jobs])
    grads = project_units(model, layer, images, [topk.channels[r] for r, _ in jobs],
                          [tuple(topk.positions[r, k].tolist()) for r, k in jobs])
    return dict(zip(jobs, grads))


def _channel_entry(row: int, collection: Collection, rf: ReceptiveField, inputs, projections, fv_paths,
                   out: Path, layer_slug: str) -> tuple[dict, list[torch.Tensor]]:
    """The channel's report entry (its sheet written) and its row of the overview."""
    topk, c = collection.topk, collection.topk.channels[row]
    examples, crops, captions, shown_projections = [], [], [], []
    for rank in range(topk.k):
        index = int(topk.images[row, rank])
        if index < 0:
            break
        y, x = (int(v) for v in topk.positions[row, rank])
        box = rf.box(y, x)
        entry = {"rank": rank + 1, "image": str(collection.files[index]), "score": float(topk.scores[row, rank]),
                 "mean": float(topk.means[row, rank]), "position": [y, x], "box": list(box),
                 "box_original": None, "deconv": (row, rank) in projections}
        if index in inputs:
            image, original_hw = inputs[index]
            entry["box_original"] = box_in_original(box, original_hw, rf.input_size)
            crops.append(field_crop(image, box, rf.size, CROP_FILL))
            captions.append(f"{entry['score']:.2f} {collection.files[index].stem}")
            if (row, rank) in projections:
                shown_projections.append(projection_image(field_crop(projections[row, rank], box, rf.size, 0.0)))
        examples.append(entry)
    fv_path = fv_paths.get(c)
    fv = load_image(fv_path) if fv_path and crops else None
    sheet_name = f"channels/{layer_slug}_{c:04d}.png"
    if crops:
        channel_sheet(f"{collection.layer} channel {c}", crops, captions, shown_projections, fv).save(out / sheet_name)
    entry = {"channel": c, "sheet": sheet_name if crops else None,
             "feature_visualization": os.path.relpath(fv_path, out) if fv_path else None, "examples": examples}
    return entry, ([fv] if fv is not None else []) + crops + shown_projections[:1]


def _usable_deconv(model, layer: str, size: int, deconv: int) -> int:
    """`deconv`, or 0 with a note when deconvnet projections do not apply to the layer (a transformer)."""
    problem = deconv_problem(model, layer, size) if deconv > 0 else None
    if problem:
        print(f"deepscope examples: no deconvnet projections: {problem}", file=sys.stderr)
        return 0
    return deconv


def _channel_entries(model, layer: str, collection: Collection, rf: ReceptiveField, deconv: int, fv_paths,
                     out: Path) -> tuple[list[dict], list[tuple]]:
    """Every channel's report entry (its sheet written) and the overview's rows."""
    chans, layer_slug = collection.topk.channels, slug(layer)
    entries, rows = [], []
    for start in range(0, len(chans), CHANNEL_CHUNK):  # bounded memory: images of a few channels at a time
        part = range(start, min(start + CHANNEL_CHUNK, len(chans)))
        inputs = _load_inputs(collection.files, collection.topk.images[part.start:part.stop].flatten().tolist(),
                              collection.size)
        projections = _projections(model, layer, collection, inputs, deconv, part)
        for row in part:
            entry, images = _channel_entry(row, collection, rf, inputs, projections, fv_paths, out, layer_slug)
            entries.append(entry)
            if images and len(rows) < OVERVIEW_ROWS:
                rows.append((f"ch {entry['channel']}", images, [""] * len(images)))
    return entries, rows


def _fv_paths(model, layer: str, chans: list[int], out: Path, with_fv: bool, fv_dir, fv: tuple[int, int],
              progress: bool) -> dict:
    """{channel: feature visualization file}: rendered (`with_fv`), found in `fv_dir`, or none."""
    if with_fv:
        return render_fv(model, layer, chans, out / "fv", size=fv[0], steps=fv[1], progress=progress)
    return find_fv_images(model, layer, chans, fv_dir) if fv_dir is not None else {}


def dataset_examples(
    model: VisionModel,
    layer: str,
    files: Sequence[Path],
    out: str | os.PathLike,
    *,
    channels: Sequence[int] | None = None,
    k: int = 9,
    size: int | None = None,
    batch_size: int = 16,
    deconv: int = 1,
    with_fv: bool = False,
    fv_dir: str | os.PathLike | None = None,
    fv_size: int = 128,
    fv_steps: int = 256,
    progress: bool = True,
    checkpoint_seconds: float = 10.0,
    workers: int | None = None,
    key_extra: dict | None = None,
    on_batch: Callable[[int], None] | None = None,
    groups: Sequence | None = None,
    per_group: int | None = PER_GROUP,
    engine=None,
) -> ExamplesReport:
    """Run (or resume, or read back) the whole job; returns the `examples.json` report.

    `groups` (a group id per file, e.g. the source photo of each view): a channel keeps at most
    `per_group` examples of one group. `engine`: the pass as shard tasks (`collect_top_examples`)."""
    out = prepare_output_dir(out)
    (out / "channels").mkdir(exist_ok=True)
    collection = collect_top_examples(model, layer, files, channels=channels, k=k, size=size, batch_size=batch_size,
                                      state_path=out / STATE_FILE, checkpoint_seconds=checkpoint_seconds,
                                      progress=progress, workers=workers, key_extra=key_extra, on_batch=on_batch,
                                      groups=groups, per_group=per_group, engine=engine)
    job = Job(out, "examples-report", {"pass": collection.key, "deconv": deconv, "with_fv": with_fv,
                                       "fv_dir": str(fv_dir), "fv": [fv_size, fv_steps] if with_fv else None})
    previous = _finished_report(job, out)
    if previous is not None:
        return ExamplesReport(previous, out)
    if collection.read == 0:
        raise no_readable_images_error(files, collection.skipped)
    rf = receptive_field(model, layer, collection.size)
    deconv = _usable_deconv(model, layer, collection.size, deconv)
    fv_paths = _fv_paths(model, layer, collection.topk.channels, out, with_fv, fv_dir, (fv_size, fv_steps), progress)
    entries, rows = _channel_entries(model, layer, collection, rf, min(deconv, k), fv_paths, out)
    if rows:
        overview_sheet(rows).save(out / "overview.png")
    report = {
        "model": model.name, "layer": layer, "top": k, "input_size": collection.size, "score": SCORE_NOTE,
        "boxes": "box = (left, top, right, bottom) in the network input (the image resized so that its shorter "
                 "side is input_size, centre-cropped), half-open; box_original = the same in the original file",
        "files": {"total": len(collection.files), "read": collection.read,
                  "skipped": [{"path": p, "reason": r} for p, r in collection.skipped]},
        "receptive_field": rf.to_json(), "deconv_per_channel": min(deconv, k),
        "overview": "overview.png" if rows else None, "channels": entries, "key": job.key, "complete": True,
        **({"per_group": collection.topk.per_group} if collection.topk.capped else {}),
    }
    write_text(out / REPORT, json.dumps(report, indent=1))
    job.finish(REPORT)
    return ExamplesReport(report, out)
