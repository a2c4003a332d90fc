"""`deepscope multiuse`: channels and atlas cells that support unrelated classes, validated by patch
tests of their feature visualizations against a same-size noise control on held-out images."""
from __future__ import annotations

from deepscope.cli.common import (
    add_model_args,
    fraction,
    fractions,
    given,
    model_from_args,
    number,
    pixels,
    positive_int,
    seed,
)
from deepscope.cli.defaults import MULTIUSE


def add_parser(sub) -> None:
    p = sub.add_parser(
        "multiuse", help="multi-use features: units whose top classes are unrelated, validated by patch tests",
        description="For every channel of the store's layer and every cell of an atlas of it: the classes it supports "
                    "(attribution), flagged when two of its top classes are unrelated (cosine of the classifier's rows); "
                    "the top candidates' feature visualizations are pasted as patches into held-out images against a "
                    "noise control. Writes multiuse.json, multiuse.md and sheets/UNIT.png.")
    add_model_args(p)
    p.add_argument("--atlas-store", help="activation store collected with attribution (`deepscope atlas --store`)")
    p.add_argument("--layer", help="with --images: collect a store of this layer (with attribution) into OUT/activations")
    p.add_argument("--images", help="image folder for a fresh collection (searched recursively)")
    p.add_argument("--positions", type=positive_int, default=None, help="positions per image of a fresh collection")
    p.add_argument("--limit", type=positive_int, default=None, help="collect only the first N images")
    p.add_argument("--top", type=positive_int, default=None, help=f"candidates validated (default {MULTIUSE['top']})")
    p.add_argument("--classes", type=number(int, 2, 20), default=None,
                   help=f"top classes per unit (default {MULTIUSE['classes']})")
    p.add_argument("--top-positions", type=positive_int, default=None,
                   help=f"a channel's top-activating positions its support is read from (default {MULTIUSE['top_positions']})")
    p.add_argument("--grid", type=number(int, 1, 200), default=None, help="atlas grid (default: from the activations)")
    p.add_argument("--threshold", type=positive_int, default=None,
                   help=f"minimum positions per atlas cell (default {MULTIUSE['threshold']})")
    p.add_argument("--layout", choices=("umap", "tsne", "pca"), default=None, help="atlas layout (default umap)")
    p.add_argument("--unrelated", type=number(float, -1, 1), default=None,
                   help=f"classes whose classifier rows' cosine is below this are unrelated (default {MULTIUSE['unrelated']})")
    p.add_argument("--holdout", type=fraction, default=None,
                   help=f"share of the store's images held out for the patch tests (default {MULTIUSE['holdout']})")
    p.add_argument("--test-images", type=positive_int, default=None,
                   help=f"held-out images each patch is tested on (default {MULTIUSE['test_images']})")
    p.add_argument("--margin", type=fraction, default=None,
                   help=f"flip-rate gain over noise that validates a patch (default {MULTIUSE['margin']})")
    p.add_argument("--ratios", type=fractions, default=None, help="patch widths as fractions of the image (default "
                   "0.2,0.4,0.7)")
    p.add_argument("--size", type=pixels(16), default=None, help=f"visualization size (default {MULTIUSE['size']} px)")
    p.add_argument("--steps", type=positive_int, default=None, help=f"render steps (default {MULTIUSE['steps']})")
    p.add_argument("--examples", type=positive_int, default=None, help="example crops per class on a sheet (default 4)")
    p.add_argument("--batch", type=positive_int, default=None, help="images per forward pass (default 8)")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--out", default="deepscope-multiuse", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


OPTIONS = ("atlas_store", "layer", "images", "positions", "limit", "top", "classes", "top_positions", "grid",
           "threshold", "layout", "unrelated", "holdout", "test_images", "margin", "ratios", "size", "steps",
           "examples", "batch", "seed")


def run(args) -> int:
    from deepscope.probes.multiuse import MultiuseRequest, find_multiuse
    from deepscope.viz.output import prepare_output_dir

    request = MultiuseRequest(**given(args, OPTIONS))
    request.check()
    out = prepare_output_dir(args.out)
    report = find_multiuse(request, model_from_args(args), out, progress=not args.no_progress)
    for row in report["candidates"]:
        flips = ", ".join(f"{e['name']} {100 * e['patch']['best_rate']:.0f}% vs noise {100 * e['noise']['best_rate']:.0f}%"
                          for e in row["validation"]["classes"])
        mark = "validated" if row["validation"]["validated"] else "not validated"
        print(f"{row['rank']:>3}. {row['unit']}: {' / '.join(row['pair']['classes'])} (cosine "
              f"{row['pair']['cosine']:+.2f}); {flips}: {mark}")
    s = report["summary"]
    print(f"{s['validated']} of {s['candidates']} candidates validated ({s['dual_validated']} for two classes); "
          f"wrote multiuse.json, multiuse.md and sheets/ to {out}")
    return 0
