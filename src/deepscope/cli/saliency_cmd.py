"""`deepscope saliency`: saliency maps (captum-backed) of images, as PNG overlays and raw .npy arrays."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from deepscope.attribution import attribute, get_method, method_names
from deepscope.attribution.cam_layer import cam_layer
from deepscope.attribution.inputs import image_batches, image_paths
from deepscope.attribution.overlay import overlay
from deepscope.attribution.targets import class_name
from deepscope.cli.common import add_model_args, model_from_args
from deepscope.data import save_image
from deepscope.errors import DeepscopeError
from deepscope.viz.output import prepare_output_dir, write_atomic
from deepscope.viz.sheet import contact_sheet


def add_method_args(p) -> None:
    """Method choice and options, shared with `deepscope sanity`."""
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last conv-like layer)")
    p.add_argument("--size", type=int, default=None, help="input size in pixels (default: the model's)")
    p.add_argument("--batch", type=int, default=8, help="images per batch")
    p.add_argument("--samples", type=int, default=None, help="smoothgrad: noisy samples (default 25)")
    p.add_argument("--noise", type=float, default=None, help="smoothgrad: noise std on [0,1] images (default 0.15)")
    p.add_argument("--steps", type=int, default=None, help="integrated gradients: steps (default 32)")
    p.add_argument("--window", type=int, default=None, help="occlusion: square side in px (default size/8)")
    p.add_argument("--stride", type=int, default=None, help="occlusion: stride in px (default window/2)")
    p.add_argument("--no-progress", action="store_true")


def parse_methods(text: str) -> list[str]:
    """'gradient,grad-cam' or 'all' -> canonical method names (clear error for unknown ones)."""
    names = [t for t in (s.strip() for s in str(text).split(",")) if t]
    if not names:
        raise DeepscopeError("--method names no method; methods: " + ", ".join(method_names()))
    if names == ["all"]:
        return method_names()
    return list(dict.fromkeys(get_method(n).name for n in names))


def method_kwargs(args) -> dict:
    opts = {"samples": args.samples, "noise": args.noise, "steps": args.steps, "window": args.window,
            "stride": args.stride}
    for key in ("samples", "steps", "window", "stride"):
        if opts[key] is not None and opts[key] < 1:
            raise DeepscopeError(f"--{key} must be at least 1, got {opts[key]}")
    return {k: v for k, v in opts.items() if v is not None}


def check_size(args, model) -> int:
    size = args.size or model.input_size
    if size < 32:
        raise DeepscopeError(f"--size {size} is too small: use at least 32 pixels")
    if args.batch < 1:
        raise DeepscopeError(f"--batch must be at least 1, got {args.batch}")
    return size


def add_parser(sub) -> None:
    p = sub.add_parser("saliency", help="saliency maps of images (gradient, Grad-CAM, guided backprop, ...)",
                       description="Methods: " + ", ".join(method_names()) + ". Writes OUT/<image>.<method>.png "
                       "(overlay), OUT/<image>.<method>.npy (raw attribution, C x H x W) and OUT/saliency.json.")
    add_model_args(p)
    p.add_argument("--method", default="gradient",
                   help="method(s), comma-separated, or 'all' (default gradient)")
    p.add_argument("--images", required=True, help="an image file or a folder of images")
    p.add_argument("--target", default=None, metavar="NAME_OR_INDEX",
                   help="class to explain, by name or index (default: each image's top-1 class)")
    p.add_argument("--limit", type=int, default=None, help="use at most N images of the folder")
    p.add_argument("--out", default="deepscope-saliency", help="output folder")
    add_method_args(p)
    p.set_defaults(func=run)


def _stem(file: Path, root: Path) -> str:
    rel = file.relative_to(root) if root.is_dir() else Path(file.name)
    return str(rel.with_suffix("")).replace("/", "__")


def run(args) -> int:
    methods = parse_methods(args.method)
    options = method_kwargs(args)
    model = model_from_args(args)
    size = check_size(args, model)
    layer = cam_layer(model, args.layer)[0] if any(get_method(m).uses_layer for m in methods) else None
    target = model.class_index(args.target) if args.target is not None else None
    out = prepare_output_dir(args.out)
    root = Path(args.images)
    if not root.exists():
        raise DeepscopeError(f"{str(root)!r} does not exist: give an image file or a folder of images")
    total = 1 if root.is_file() else len(image_paths(root, args.limit))

    records, skipped = [], []
    bar = tqdm(total=total * len(methods), desc="saliency", unit="map", disable=args.no_progress)
    for batch, batch_files in image_batches(root, size, args.batch, args.limit, skipped):
        batch = batch.to(model.device)
        with torch.no_grad():
            probs = model(batch).softmax(1)
        targets = probs.argmax(1) if target is None else torch.full((len(batch),), target, device=batch.device)
        entries = [{"file": str(f), "target": int(t), "target_name": class_name(model, int(t)),
                    "probability": float(probs[i, t]), "top1": int(probs[i].argmax()),
                    "top1_name": class_name(model, int(probs[i].argmax())), "outputs": {}}
                   for i, (f, t) in enumerate(zip(batch_files, targets.tolist()))]
        tiles = [[batch[i].cpu()] for i in range(len(batch))]
        for method in methods:
            result = attribute(model, batch, method, targets, layer=layer, **options)
            maps = result.map(get_method(method).display).cpu()
            for i, entry in enumerate(entries):
                stem = _stem(Path(entry["file"]), root)
                png, npy = out / f"{stem}.{method}.png", out / f"{stem}.{method}.npy"
                picture = overlay(batch[i], maps[i])
                tiles[i].append(picture)
                save_image(picture, png)
                np.save(npy, result.raw[i].cpu().float().numpy())
                entry["outputs"][method] = {"png": png.name, "npy": npy.name}
            bar.update(len(batch))
        if len(methods) > 1:
            for i, entry in enumerate(entries):
                sheet = out / f"{_stem(Path(entry['file']), root)}.sheet.png"
                contact_sheet(tiles[i], ["image"] + methods, columns=len(tiles[i])).save(sheet)
                entry["outputs"]["sheet"] = sheet.name
        records.extend(entries)
    bar.close()
    summary = {"model": model.name, "size": size, "methods": methods, "cam_layer": layer,
               "target": "top-1" if target is None else {"index": target, "name": class_name(model, target)},
               "options": options, "images": records, "skipped": skipped,
               "arrays": "raw attributions, float32, C x H x W (C = 1 for grad-cam); PNGs show sum_c |a| "
                         "(occlusion: the positive part of sum_c a) scaled by its 99th percentile over the grey image"}
    write_atomic(out / "saliency.json", json.dumps(summary, indent=1))
    print(f"{len(records)} image(s) x {len(methods)} method(s) -> {out}/ (saliency.json lists the files)")
    return 0
