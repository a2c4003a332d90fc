"""`deepscope diff`: two models' layers at the same image positions; writes OUT/diff.png + diff.json."""
from __future__ import annotations

from deepscope.cli.common import (
    MAX_GRID,
    add_model_args,
    add_workers_arg,
    count,
    given,
    load_model,
    model_from_args,
    number,
    pixels,
    positive_int,
    seed,
)
from deepscope.cli.defaults import ATLAS, ATLAS_SIZES, LAYOUTS
from deepscope.errors import DeepscopeError

ICON_WORK = {"steps": 256, "attempts": 1}  # deepscope.diff.DIFF_ICONS (checked by tests/test_diff.py)


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="compare a layer of two models (or two checkpoints) at the same image positions",
                       description="Activations of model A's and model B's layers at the same image positions, a "
                                   "ridge map from A to B (held-out R²), one atlas layout of A's activations and, "
                                   "per cell, A's and B's icons, a change score and the top classes in A and B.")
    add_model_args(p)
    p.add_argument("--layer", required=True, help="model A's layer (see `deepscope layers`), e.g. blocks.5")
    p.add_argument("--model-b", default=None, help="model B (default: --model, with --weights-b)")
    p.add_argument("--weights-b", default=None, help="state-dict file for model B (a second checkpoint)")
    p.add_argument("--layer-b", default=None, help="model B's layer (default: --layer)")
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument("--out", default="deepscope-diff", help="output folder")
    p.add_argument("--store", default=None, help="folder of the aligned activations (default OUT/aligned); "
                                                 "reused and resumed when it exists")
    p.add_argument("--positions", type=positive_int, default=None,
                   help="positions sampled per image (default: from the number of images, as for atlases)")
    p.add_argument("--margin", type=count, default=None,
                   help=f"positions this close to A's map edge are not sampled (default {ATLAS['margin']})")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N images")
    p.add_argument("--no-attribution", action="store_true", help="skip the attribution (no top classes)")
    p.add_argument("--grid", type=number(int, 1, MAX_GRID), default=None,
                   help="grid size g of A's layout (default: from the number of activations)")
    p.add_argument("--threshold", type=positive_int, default=None,
                   help=f"minimum activations per cell (default {ATLAS_SIZES['layer'][1]})")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help=f"2-D layout (default {ATLAS['layout']})")
    p.add_argument("--no-icons", action="store_true", help="no icons: the grid of cells coloured by change")
    p.add_argument("--icon-size", type=pixels(8, 512), default=None,
                   help="icon size in px (default: 80, or 3 map cells of A's layer at coarse layers)")
    p.add_argument("--steps", type=positive_int, default=None, help=f"optimization steps per icon (default {ICON_WORK['steps']})")
    p.add_argument("--attempts", type=positive_int, default=None, help=f"best of N renders per icon (default {ICON_WORK['attempts']})")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"images per forward pass (default {ATLAS['batch_size']})")
    add_workers_arg(p)
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def models_from_args(args):
    """(model A, model B): B is --model-b (default --model) with --weights-b, or A itself when neither is given."""
    model_a = model_from_args(args)
    if args.model_b is None and args.weights_b is None:
        return model_a, model_a
    name = args.model_b or args.model
    try:
        model_b = load_model(name, weights=args.weights_b, pretrained=args.pretrained, device=args.device)
    except DeepscopeError as err:
        fix = " (--weights-b must be a checkpoint of --model-b's architecture)" if args.weights_b else ""
        raise DeepscopeError(f"model B: {err}{fix}") from None
    return model_a, model_b


def run(args) -> int:
    from pathlib import Path

    from deepscope.atlas.icons import IconSettings
    from deepscope.cli.atlas_cmd import check_folder
    from deepscope.diff import DIFF_ICONS, diff_models
    from deepscope.viz.output import prepare_output_dir

    check_folder(args.store, "--store")
    check_folder(args.out, "--out")
    if not Path(args.images).is_dir():
        raise DeepscopeError(f"--images {args.images!r} is not a folder; give a folder of images")
    out = prepare_output_dir(args.out)
    model_a, model_b = models_from_args(args)
    icons = None if args.no_icons else IconSettings(**{**DIFF_ICONS.__dict__, **given(args, ("steps", "attempts")),
                                                       **({"size": args.icon_size} if args.icon_size else {})})
    options = given(args, ("positions", "margin", "grid", "threshold", "layout", "seed", "batch_size", "workers",
                           "limit"))
    result = diff_models(model_a, args.layer, model_b, args.layer_b, args.images, args.store or out / "aligned",
                         icons=icons, attribution=not args.no_attribution, progress=not args.no_progress, **options)
    result.save(out)
    survival = result.top_class_survival
    print(f"wrote {out / 'diff.png'} and diff.json: {len(result.aligned)} positions, held-out R² {result.r2:.3f}, "
          f"median change {float(result.scores.summary()['median_change']):.3f} over {len(result.scores.change)} cells"
          + (f", top class survives in {survival:.0%} of them" if survival is not None else ""))
    return 0
