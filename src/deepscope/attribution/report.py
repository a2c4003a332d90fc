"""The saliency jobs behind `deepscope saliency`, `deepscope sanity` and the site: images of a
file or folder in, maps, overlays, pictures and a JSON summary out. Their defaults live here."""
from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from deepscope.attribution.attribute import Attribution, attribute
from deepscope.attribution.cam_layer import cam_layer
from deepscope.attribution.inputs import image_batches, image_paths, load_images
from deepscope.attribution.methods import DEFAULT_BATCH, check_options, get_method
from deepscope.attribution.overlay import overlay
from deepscope.attribution.sanity import SanityConfig, run_sanity
from deepscope.attribution.targets import class_name, objective_layer
from deepscope.data.images import save_image
from deepscope.errors import DeepscopeError
from deepscope.jobs import write_array, write_json
from deepscope.models.vision_model import VisionModel, require_finite
from deepscope.render.objectives import Objective
from deepscope.viz.output import prepare_output_dir
from deepscope.viz.sheet import contact_sheet

DEFAULT_METHOD = "gradient"  # `saliency_folder`'s method
DEFAULT_SANITY_IMAGES = 16  # images of a sanity check, evenly spaced over the folder (the paper used 200)
MIN_SIZE = 32
ARRAYS_NOTE = ("raw attributions, float32, C x H x W (C = 1 for grad-cam); PNGs show sum_c |a| "
               "(occlusion: the positive part of sum_c a) scaled by its 99th percentile over the grey image")


def input_size(model: VisionModel, size: int | None = None, batch: int = DEFAULT_BATCH) -> int:
    """`size` (default: the model's input size), with a clear error for a tiny size or batch."""
    size = size or model.input_size
    if size < MIN_SIZE:
        raise DeepscopeError(f"--size {size} is too small: use at least {MIN_SIZE} pixels")
    if batch < 1:
        raise DeepscopeError(f"--batch must be at least 1, got {batch}")
    return size


@dataclass
class Explained:
    """One batch explained by every method."""

    images: torch.Tensor  # (n, 3, H, W) on the model's device
    files: list[Path]
    probs: torch.Tensor  # (n, classes) softmax of the model's logits
    targets: torch.Tensor | None  # (n,) class indices explained; None when an objective is
    results: dict[str, Attribution]
    classes: list[str] | None = None  # the model's class names (captions of the pictures)

    def _repr_png_(self) -> bytes:  # Jupyter: each image beside its overlays
        from deepscope.viz.notebook import saliency_png

        return saliency_png(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(f"Explained: {len(self.images)} images by {', '.join(self.results)}")


def explain_batches(model: VisionModel, batches: Iterable[tuple[torch.Tensor, list[Path]]], methods: Sequence[str],
                    target=None, *, layer: str | None = None, options: dict | None = None) -> Iterator[Explained]:
    """Each (images, files) batch explained by every method, for `target` (see `attribute`)."""
    for images, files in batches:
        images = images.to(model.device)
        with torch.no_grad():
            probs = require_finite(model(images), f"the logits of {model.name}").softmax(1)
        targets = None
        if not isinstance(target, Objective):
            targets = probs.argmax(1) if target is None else torch.full(
                (len(images),), model.class_index(target), device=images.device)
        results = {m: attribute(model, images, m, target if targets is None else targets, layer=layer,
                                **(options or {})) for m in methods}
        for method, result in results.items():
            require_finite(result.raw, f"the {method} maps of {model.name}")
        yield Explained(images, list(files), probs, targets, results, model.classes or None)


def explain(model: VisionModel, images: torch.Tensor, methods: Sequence[str] = (DEFAULT_METHOD,), target=None, *,
            layer: str | None = None, options: dict | None = None) -> Explained:
    """`images` (n, 3, H, W) in [0, 1] explained by every method (one batch of `explain_batches`)."""
    return next(explain_batches(model, [(images, [])], methods, target, layer=layer, options=options))


def _stem(file: Path, root: Path, suffix: bool = False) -> str:
    rel = file.relative_to(root) if root.is_dir() else Path(file.name)
    return str(rel if suffix else rel.with_suffix("")).replace("/", "__")


def output_stems(files: Sequence[Path], root: Path) -> dict[Path, str]:
    """The name each input's outputs start with: its path below `root` without the extension
    (`a/x.jpg` -> `a__x`), or with it where two inputs would share a name (`x.jpg`, `x.png`)."""
    plain = {f: _stem(f, root) for f in files}
    taken = Counter(plain.values())
    stems = {f: stem if taken[stem] == 1 else _stem(f, root, suffix=True) for f, stem in plain.items()}
    seen: Counter = Counter()
    for f, stem in stems.items():  # a clash left even with the extensions (a__x.jpg, a/x.jpg): numbered
        seen[stem] += 1
        if seen[stem] > 1:
            stems[f] = f"{stem}-{seen[stem]}"
    return stems


def _entry(model: VisionModel, file: Path, probs: torch.Tensor, target: int | None) -> dict:
    top = int(probs.argmax())
    entry: dict = {"file": str(file)}
    if target is not None:
        entry.update(target=target, target_name=class_name(model, target), probability=float(probs[target]))
    return {**entry, "top1": top, "top1_name": class_name(model, top), "outputs": {}}


def _write_maps(model: VisionModel, out: Path, stems: dict[Path, str], done: Explained) -> list[dict]:
    """`<stem>.<method>.png` overlays, `.npy` raw arrays and (several methods) `<stem>.sheet.png`."""
    methods = list(done.results)
    maps = {m: r.map(get_method(m).display).cpu() for m, r in done.results.items()}
    entries = []
    for i, file in enumerate(done.files):
        entry = _entry(model, file, done.probs[i], None if done.targets is None else int(done.targets[i]))
        stem, tiles = stems[file], [done.images[i].cpu()]
        for method, result in done.results.items():
            png, npy = out / f"{stem}.{method}.png", out / f"{stem}.{method}.npy"
            tiles.append(overlay(done.images[i], maps[method][i]))
            save_image(tiles[-1], png)
            write_array(npy, result.raw[i].cpu().float().numpy())
            entry["outputs"][method] = {"png": png.name, "npy": npy.name}
        if len(methods) > 1:
            sheet = out / f"{stem}.sheet.png"
            contact_sheet(tiles, ["image"] + methods, columns=len(tiles)).save(sheet)
            entry["outputs"]["sheet"] = sheet.name
        entries.append(entry)
    return entries


def _target_summary(model: VisionModel, target):
    if target is None:
        return "top-1"
    if isinstance(target, Objective):
        return {"objective": target.name}
    return {"index": target, "name": class_name(model, target)}


def saliency_folder(model: VisionModel, images: str | os.PathLike, out: str | os.PathLike,
                    methods: Sequence[str] = (DEFAULT_METHOD,), *, target=None, size: int | None = None,
                    batch: int = DEFAULT_BATCH, limit: int | None = None, layer: str | None = None,
                    options: dict | None = None, progress: bool = True) -> dict:
    """Maps of every image of `images` (a file or a folder; the first `limit`) by each method, in `out`.

    Writes `<image>.<method>.png` (overlay), `<image>.<method>.npy` (raw attribution, C x H x W),
    `<image>.sheet.png` (several methods) and `saliency.json` (returned). `target`: None (each
    image's top-1 class), a class index or name, or a render objective. Unreadable files of a
    folder are skipped with a warning.
    """
    methods = [get_method(m).name for m in methods]
    options = check_options(options)
    size = input_size(model, size, batch)
    uses_layer = any(get_method(m).uses_layer for m in methods)
    layer = cam_layer(model, layer or objective_layer(target))[0] if uses_layer else None
    if target is not None and not isinstance(target, Objective):
        target = model.class_index(target)
    out, root = prepare_output_dir(out), Path(images)
    paths = image_paths(root)  # every file: a skipped one makes the job read past `limit`
    total, stems = min(len(paths), limit or len(paths)), output_stems(paths, root)
    records, skipped = [], []
    bar = tqdm(total=total * len(methods), desc="saliency", unit="map", disable=not progress)
    for done in explain_batches(model, image_batches(root, size, batch, limit, skipped), methods, target,
                                layer=layer, options=options):
        records.extend(_write_maps(model, out, stems, done))
        bar.update(len(done.files) * len(methods))
    bar.close()
    summary = {"model": model.name, "size": size, "methods": methods, "cam_layer": layer,
               "target": _target_summary(model, target), "options": options, "images": records,
               "skipped": skipped, "arrays": ARRAYS_NOTE}
    write_json(out / "saliency.json", summary)
    return summary


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def sanity_folder(model: VisionModel, images: str | os.PathLike, out: str | os.PathLike,
                  cfg: SanityConfig | None = None, *, count: int = DEFAULT_SANITY_IMAGES, size: int | None = None,
                  progress: bool = False, quiet: bool = False, file_label: Callable[[Path], str] = str) -> dict:
    """Both sanity checks (`run_sanity`) on `count` images spread over the folder `images`, in `out`.

    Writes `sanity.json` (returned: numbers and a verdict per method), `cascade.png` and
    `class_sensitivity.png`. `progress` prints each step, `quiet` hides skipped files (the report
    then counts them without their paths), `file_label` names the files in the report (default: paths).
    """
    cfg = cfg or SanityConfig()
    if count < 1:
        raise DeepscopeError(f"--num-images must be at least 1, got {count}")
    options = check_options(cfg.options)
    size = input_size(model, size, cfg.batch)
    if cfg.layer is not None:
        cam_layer(model, cfg.layer)
    out = prepare_output_dir(out)
    batch, files, skipped = load_images(images, size, count, spread=True, warn=(lambda _m: None) if quiet else _stderr)
    say = (lambda msg: print(f"[sanity] {msg}", flush=True)) if progress else None
    report = run_sanity(model, batch, cfg, progress=say)
    report.update(files=[file_label(f) for f in files], skipped=[] if quiet else skipped,
                  skipped_count=len(skipped), options=options)
    from deepscope.attribution import sanity_plot  # here: importing it sets matplotlib's Agg backend

    write_json(out / "sanity.json", report)
    sanity_plot.plot_cascade(report, out / "cascade.png")
    sanity_plot.plot_class_sensitivity(report, out / "class_sensitivity.png")
    return report
