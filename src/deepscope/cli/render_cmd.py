"""`deepscope render`: feature visualizations of channels, neurons or classes, to a folder."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tqdm.auto import tqdm

from deepscope.cli.common import add_model_args, model_from_args, parse_index_list
from deepscope.errors import DeepscopeError
from deepscope.models import check_channels, suggest_layers
from deepscope.render import channel, class_logit, diversity, neuron, render
from deepscope.render.export import save_render, write_results
from deepscope.render.param import DEFAULT_LR, PARAMS
from deepscope.render.transforms import TRANSFORM_SETS
from deepscope.viz.output import prepare_output_dir, write_atomic

STATE_FILE = ".render-state.json"


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render feature visualizations (an overview of the model by default)",
                       description="Without --layer or --class: an overview, a few channels of several layers.")
    add_model_args(p)
    p.add_argument("--layer", help="layer name(s), comma-separated (see `deepscope layers`)")
    p.add_argument("--channels", default=None, help="channels, e.g. 0-15 or 0,3,8-11 (default 0-15; 0-5 in the overview)")
    p.add_argument("--neuron", action="store_true", help="the centre neuron of each channel, not the channel mean")
    p.add_argument("--class", dest="classes", action="append", metavar="NAME_OR_INDEX",
                   help="class logit to render (name or index; repeat or comma-separate)")
    p.add_argument("--diversity", type=int, default=0, metavar="N", help="N diverse images per objective")
    p.add_argument("--diversity-weight", type=float, default=100.0, help="weight of the diversity term")
    p.add_argument("--param", choices=sorted(PARAMS), default="fft", help="image parameterization")
    p.add_argument("--transforms", choices=sorted(TRANSFORM_SETS), default=None,
                   help="transform set (standard; strong for classes)")
    p.add_argument("--size", type=int, default=None,
                   help="image size in pixels (default 128; classes: the model's input size, e.g. 224)")
    p.add_argument("--steps", type=int, default=256, help="optimization steps")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05, 0.2 for maco)")
    p.add_argument("--attempts", type=int, default=1, help="render each objective N times, keep the best")
    p.add_argument("--batch", type=int, default=16, help="objectives optimized together in one batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="deepscope-render", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _validate(args) -> None:
    if args.size is not None and args.size < 8:
        raise DeepscopeError(f"--size {args.size} is too small: use at least 8 pixels")
    if args.steps < 1:
        raise DeepscopeError(f"--steps must be positive, got {args.steps}")
    if args.attempts < 1 or args.batch < 1 or args.diversity < 0:
        raise DeepscopeError("--attempts and --batch must be at least 1, --diversity at least 0")


def _jobs(args, model) -> list[tuple[str, list]]:
    """(title, objectives) per batch group: one group per layer, plus one for classes."""
    jobs = []
    if args.classes:
        names = [c.strip() for text in args.classes for c in text.split(",") if c.strip()]
        objs = []
        for label in names:
            idx = model.class_index(label)
            objs.append(class_logit(idx, model.classes[idx] if model.classes else str(idx)))
        jobs.append(("classes", objs))
    layers = [s.strip() for s in args.layer.split(",")] if args.layer else []
    channels_text = args.channels
    if not layers and not args.classes:
        layers, channels_text = suggest_layers(model, 6), args.channels or "0-5"
    for layer in layers:
        model.resolve(layer)
        chans = parse_index_list(channels_text or "0-15")
        check_channels(model, layer, chans, args.size or 128)
        make = neuron if args.neuron else channel
        jobs.append((layer, [make(layer, c) for c in chans]))
    return jobs


def _with_diversity(objs, layer, args):
    if args.diversity < 2 or layer == "classes":
        return objs
    return [o + args.diversity_weight * diversity(layer) for o in objs]


def _state_key(args) -> str:
    keys = ("model", "weights", "layer", "channels", "neuron", "classes", "diversity", "diversity_weight", "param",
            "transforms", "size", "steps", "lr", "attempts", "batch", "seed")
    values = {k: getattr(args, k) for k in keys}
    values["lr"] = args.lr if args.lr is not None else DEFAULT_LR[args.param]  # defaults may change
    settings = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


def run(args) -> int:
    _validate(args)
    out = prepare_output_dir(args.out)
    model = model_from_args(args)
    jobs = _jobs(args, model)
    key = _state_key(args)
    state_path = Path(out) / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    done = state.get("done", {}) if state.get("key") == key else {}
    entries: list[dict] = []
    batches = [(title, objs[i:i + args.batch], n) for title, objs in jobs
               for n, i in enumerate(range(0, len(objs), args.batch))]
    bar = tqdm(batches, desc="batches", unit="batch", disable=args.no_progress or len(batches) < 2)
    for index, (title, objs, n) in enumerate(bar):
        batch_id = f"{title}/{n}"
        if batch_id in done:
            entries.extend(done[batch_id])
            continue
        bar.set_postfix_str(title)
        size = args.size or (model.input_size if title == "classes" else 128)
        result = render(model, _with_diversity(objs, title, args), size=size, steps=args.steps,
                        param=args.param, lr=args.lr,
                        transforms=args.transforms or ("strong" if title == "classes" else "standard"),
                        images_per_objective=max(1, args.diversity), attempts=args.attempts,
                        seed=args.seed + index, progress=not args.no_progress)
        sheet = f"contact_sheet_{_safe(title)}_{n}.png" if len(batches) > 1 else "contact_sheet.png"
        new = save_render(result, out, sheet_name=sheet)
        entries.extend(new)
        done[batch_id] = new
        write_atomic(state_path, json.dumps({"key": key, "done": done}))
        write_results(entries, out)
    if len(batches) > 1:
        _overall_sheet(out, entries)
    write_results(entries, out)
    print(f"wrote {len(entries)} images, contact sheet and results.json to {out}")
    return 0


def _safe(title: str) -> str:
    return title.replace("/", "_").replace(".", "_")


def _overall_sheet(out: Path, entries: list[dict]) -> None:
    """One contact sheet of every image (rows follow the batches)."""
    from deepscope.data.images import load_image
    from deepscope.viz.sheet import contact_sheet

    images = [load_image(Path(out) / e["image"]) for e in entries]
    columns = min(8, len(images))
    contact_sheet(images, [e["objective"] for e in entries], columns=columns).save(Path(out) / "contact_sheet.png")
