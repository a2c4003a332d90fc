"""`deepscope render`: feature visualizations of channels, neurons or classes, to a folder."""
from __future__ import annotations

from deepscope.cli.common import (
    add_model_args,
    count,
    given,
    index_list,
    model_from_args,
    nonnegative_float,
    pixels,
    positive_float,
    positive_int,
    seed,
)
from deepscope.cli.defaults import PARAMS, RENDER, TRANSFORM_SETS


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render feature visualizations (an overview of the model by default)",
                       description="Without --layer or --class: an overview, a few channels of several layers.")
    add_model_args(p)
    p.add_argument("--layer", help="layer name(s), comma-separated (see `deepscope layers`)")
    p.add_argument("--channels", type=index_list(), default=None,
                   help="channels, e.g. 0-15 or 0,3,8-11 (default 0-15; 0-5 in the overview)")
    p.add_argument("--neuron", action="store_true", help="the centre neuron of each channel, not the channel mean")
    p.add_argument("--class", dest="classes", action="append", metavar="NAME_OR_INDEX",
                   help="class logit to render (name or index; repeat or comma-separate)")
    p.add_argument("--diversity", type=count, default=None, metavar="N", help="N diverse images per objective")
    p.add_argument("--diversity-weight", type=nonnegative_float, default=None,
                   help=f"weight of the diversity term (default {RENDER['diversity_weight']:g})")
    p.add_argument("--param", choices=PARAMS, default=None, help=f"image parameterization (default {RENDER['param']})")
    p.add_argument("--transforms", choices=TRANSFORM_SETS, default=None,
                   help="transform set (standard; strong for classes)")
    p.add_argument("--size", type=pixels(), default=None,
                   help="image size in pixels (default 128; classes: the model's input size, e.g. 224)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"optimization steps (default {RENDER['steps']})")
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: 0.05, 0.2 for maco)")
    p.add_argument("--attempts", type=positive_int, default=None, help="render each objective N times, keep the best")
    p.add_argument("--batch", type=positive_int, default=None,
                   help=f"objectives optimized together in one batch (default {RENDER['batch']})")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--out", default="deepscope-render", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _list(text: str | None) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()] if text else []


def request_from_args(args):
    from deepscope.render.request import RenderRequest

    options = given(args, ("channels", "diversity", "diversity_weight", "param", "transforms", "size", "steps",
                           "lr", "attempts", "batch", "seed"))
    return RenderRequest(layers=_list(args.layer), neuron=args.neuron,
                         classes=[c for text in args.classes or [] for c in _list(text)], **options)


def run(args) -> int:
    from deepscope.viz.output import prepare_output_dir

    request = request_from_args(args)
    request.check()
    out = prepare_output_dir(args.out)
    model = model_from_args(args)
    entries = request.run(model, out, weights=args.weights, progress=not args.no_progress)
    print(f"wrote {len(entries)} images, contact sheet and results.json to {out}")
    return 0
