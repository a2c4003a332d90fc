"""`deepscope render`: feature visualizations of channels, neurons or classes, to a folder."""
from __future__ import annotations

from deepscope.cli.common import add_model_args, model_from_args, parse_index_list
from deepscope.render.param import PARAMS
from deepscope.render.request import RenderRequest
from deepscope.render.transforms import TRANSFORM_SETS
from deepscope.viz.output import prepare_output_dir


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


def _list(text: str | None) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()] if text else []


def request_from_args(args) -> RenderRequest:
    return RenderRequest(
        layers=_list(args.layer), channels=parse_index_list(args.channels) if args.channels else None,
        neuron=args.neuron, classes=[c for text in args.classes or [] for c in _list(text)],
        diversity=args.diversity, diversity_weight=args.diversity_weight, param=args.param,
        transforms=args.transforms, size=args.size, steps=args.steps, lr=args.lr, attempts=args.attempts,
        batch=args.batch, seed=args.seed)


def run(args) -> int:
    request = request_from_args(args)
    request.check()
    out = prepare_output_dir(args.out)
    model = model_from_args(args)
    entries = request.run(model, out, weights=args.weights, progress=not args.no_progress)
    print(f"wrote {len(entries)} images, contact sheet and results.json to {out}")
    return 0
