"""`deepscope layers`: every module with its output shape and layout."""
from __future__ import annotations

import json

from deepscope.cli.common import add_model_args, model_from_args, pixels


def add_parser(sub) -> None:
    p = sub.add_parser("layers", help="list a model's layers with their output shapes and layouts")
    add_model_args(p)
    p.add_argument("--size", type=pixels(), default=None, help="input size for the shapes (default: the model's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.models import list_layers

    model = model_from_args(args)
    infos = list_layers(model, args.size)
    if args.json:
        print(json.dumps([{"name": i.name, "type": i.kind, "shape": i.shape, "layout": i.layout, "calls": i.calls,
                           "alias": i.alias} for i in infos], indent=1))
        return 0
    width = max(len(i.name) for i in infos)
    shapes = ["x".join(map(str, i.shape)) if i.shape else "(not run)" for i in infos]
    header = f"output shape (one image, {args.size or model.input_size} px)"
    shape_width = max(len(header), *map(len, shapes))
    print(f"{'layer':<{width}}  {'type':<22} {header:<{shape_width}}  layout")
    for i, shape in zip(infos, shapes):
        layout = i.layout or ("-" if i.shape else "")
        notes = (f"  alias {i.alias}" if i.alias else "") + (f"  runs {i.calls}x per forward" if i.calls > 1 else "")
        print(f"{i.name:<{width}}  {i.kind:<22} {shape:<{shape_width}}  {layout}{notes}".rstrip())
    return 0
