"""`deepscope atlas`: collect activations, lay them out, render icons, write OUT/atlas.png + atlas.json."""
from __future__ import annotations

from pathlib import Path

from deepscope.cli.common import (
    MAX_GRID,
    add_engine_args,
    add_model_args,
    add_workers_arg,
    count,
    given,
    model_from_args,
    nonnegative_float,
    number,
    pixels,
    positive_int,
    seed,
    shard,
)
from deepscope.cli.defaults import ATLAS, ATLAS_SIZES, LAYOUTS
from deepscope.errors import DeepscopeError


def add_parser(sub) -> None:
    p = sub.add_parser("atlas", help="activation atlas of a layer (or of one class, or of two classes compared)",
                       description="Carter et al. 2019: sample activations over an image folder, lay them out "
                                   "with UMAP, bin them into a grid and render one icon per cell.")
    add_model_args(p)
    p.add_argument("--layer", required=True, help="layer name (see `deepscope layers`), e.g. blocks.5")
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument("--out", default="deepscope-atlas", help="output folder")
    p.add_argument("--grid", type=number(int, 1, MAX_GRID), default=None,
                   help="grid size g (g×g cells; default: from the number of activations, at most {}; {} for "
                        "--class, {} for --compare)".format(*_sizes(0)))
    what = p.add_mutually_exclusive_group()
    what.add_argument("--class", dest="cls", metavar="NAME", help="class atlas of one class (name or index)")
    what.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two classes")
    p.add_argument("--positions", type=positive_int, default=None,
                   help="random positions sampled per image (default: from the number of images; paper: 1)")
    p.add_argument("--margin", type=count, default=None,
                   help=f"positions this close to the map's edge are not sampled (default {ATLAS['margin']})")
    p.add_argument("--tokens", choices=("patches", "class"), default=None,
                   help="on a token layer: patch tokens as positions (default) or the class token, one per image")
    p.add_argument("--no-attribution", action="store_true",
                   help="skip per-position class attribution (faster; no class labels, no --class/--compare)")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N images")
    p.add_argument("--layout", choices=LAYOUTS, default=None, help=f"2-D layout (default {ATLAS['layout']})")
    p.add_argument("--threshold", type=positive_int, default=None,
                   help="minimum activations per cell (default {}; {} for --class, {} for --compare)"
                   .format(*_sizes(1)))
    p.add_argument("--whiten", action="store_true", help="icons for the whitened direction v·pinv(AᵀA/N)")
    p.add_argument("--icon-size", type=pixels(8, 512), default=None,
                   help="icon size in px (default: 80, or 3 map cells at coarse layers: 96 at blocks.5)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"optimization steps per icon (default {ATLAS['steps']})")
    p.add_argument("--attempts", type=positive_int, default=None,
                   help=f"render each icon N times and keep the best (default {ATLAS['attempts']})")
    p.add_argument("--power", type=nonnegative_float, default=None,
                   help=f"cossim power p of the icon objective dot·cos^p (default {ATLAS['power']:g})")
    p.add_argument("--icon-batch", type=positive_int, default=None,
                   help=f"cells optimized together (default {ATLAS['icon_batch']})")
    p.add_argument("--store", default=None, help="activation store folder (default OUT/activations); reused "
                                                 "and resumed when it exists")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"images per forward pass when collecting (default {ATLAS['batch_size']})")
    add_workers_arg(p)
    add_engine_args(p)
    p.add_argument("--shard", type=shard, default=None, metavar="I/N",
                   help="collect only part I of N of the images (for several processes), then stop")
    p.add_argument("--autocast", choices=("bf16",), default=None,
                   help="collect in bfloat16 on the model's device (a GPU's fast path; needs --no-attribution)")
    p.add_argument("--layout-fit", type=count, default=None, metavar="N",
                   help="fit the UMAP layout on a sample of N activations and place the rest (default "
                        f"{ATLAS['layout_fit']}; 0: fit on all)")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _sizes(which: int) -> list[int]:
    """The default grid (0) or threshold (1) of a layer atlas, a class atlas and a comparison."""
    return [ATLAS_SIZES[kind][which] for kind in ("layer", "class", "compare")]


def check_folder(path: str | None, option: str) -> None:
    """A folder option must not be a file, nor lie under one."""
    if path is None:
        return
    for folder in (Path(path), *Path(path).parents):
        if folder.exists() and not folder.is_dir():
            where = "is a file" if folder == Path(path) else f"lies under the file {str(folder)!r}"
            raise DeepscopeError(f"{option} {path!r} {where}: give a folder (an existing store or a new path)")


def request_from_args(args):
    from deepscope.atlas.request import AtlasRequest

    options = given(args, ("grid", "threshold", "positions", "margin", "tokens", "limit", "layout", "icon_size", "steps",
                           "attempts", "power", "icon_batch", "store", "batch_size", "workers", "shard", "autocast",
                           "seed", "layout_fit"))
    return AtlasRequest(layer=args.layer, images=args.images, cls=args.cls, compare=args.compare,
                        attribution=not args.no_attribution, whiten=args.whiten, engine=args.engine,
                        address=args.address, ray_workers=args.ray_workers, threads=args.threads, **options)


def run(args) -> int:
    from deepscope.atlas.build import check_canvas
    from deepscope.atlas.request import SIZES, summary_line
    from deepscope.viz.output import prepare_output_dir

    check_folder(args.store, "--store")
    check_folder(args.out, "--out")
    request = request_from_args(args)
    request.check()
    check_canvas(request.grid or SIZES[request.kind][0], request.icon_size)
    out = prepare_output_dir(args.out)
    model = model_from_args(args)
    atlas = request.run(model, out, progress=not args.no_progress)
    if atlas is None:
        print(f"collected part {args.shard} into {request.store_dir(out)}; run the other parts, then without --shard")
        return 0
    print(summary_line(atlas, out))
    return 0
