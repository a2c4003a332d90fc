"""`deepscope atlas`: collect activations, lay them out, render icons, write OUT/atlas.png + atlas.json."""
from __future__ import annotations

from deepscope.atlas.request import SIZES, AtlasRequest, summary_line
from deepscope.cli.common import add_model_args, model_from_args
from deepscope.viz.output import prepare_output_dir

DEFAULTS = AtlasRequest  # its fields' defaults are the flags' defaults


def add_parser(sub) -> None:
    p = sub.add_parser("atlas", help="activation atlas of a layer (or of one class, or of two classes compared)",
                       description="Carter et al. 2019: sample activations over an image folder, lay them out "
                                   "with UMAP, bin them into a grid and render one icon per cell.")
    add_model_args(p)
    p.add_argument("--layer", required=True, help="layer name (see `deepscope layers`), e.g. blocks.5")
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument("--out", default="deepscope-atlas", help="output folder")
    p.add_argument("--grid", type=int, default=None, help="grid size g (g×g cells; default {}, {} for --class, "
                                                          "{} for --compare)".format(*_sizes(0)))
    what = p.add_mutually_exclusive_group()
    what.add_argument("--class", dest="cls", metavar="NAME", help="class atlas of one class (name or index)")
    what.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two classes")
    p.add_argument("--positions", type=int, default=DEFAULTS.positions,
                   help="random positions sampled per image (paper: 1)")
    p.add_argument("--margin", type=int, default=DEFAULTS.margin,
                   help="positions this close to the map's edge are not sampled")
    p.add_argument("--no-attribution", action="store_true",
                   help="skip per-position class attribution (faster; no class labels, no --class/--compare)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--layout", choices=("umap", "tsne", "pca"), default=DEFAULTS.layout)
    p.add_argument("--threshold", type=int, default=None,
                   help="minimum activations per cell (default {}; {} for --class, {} for --compare)"
                   .format(*_sizes(1)))
    p.add_argument("--whiten", action="store_true", help="icons for the whitened direction v·pinv(AᵀA/N)")
    p.add_argument("--icon-size", type=int, default=None,
                   help="icon size in px (default: 80, or 3 map cells at coarse layers: 96 at blocks.5)")
    p.add_argument("--steps", type=int, default=DEFAULTS.steps,
                   help="optimization steps per icon")
    p.add_argument("--attempts", type=int, default=DEFAULTS.attempts,
                   help="render each icon N times and keep the best")
    p.add_argument("--power", type=float, default=DEFAULTS.power,
                   help="cossim power p of the icon objective dot·cos^p")
    p.add_argument("--icon-batch", type=int, default=DEFAULTS.icon_batch, help="cells optimized together")
    p.add_argument("--store", default=None, help="activation store folder (default OUT/activations); reused "
                                                 "and resumed when it exists")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                   help="images per forward pass when collecting")
    p.add_argument("--workers", type=int, default=None, help="image-decoding threads (default: half the cores, 1-4)")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="collect only part I of N of the images (for several processes), then stop")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _sizes(which: int) -> list[int]:
    """The default grid (0) or threshold (1) of a layer atlas, a class atlas and a comparison."""
    return [SIZES[kind][which] for kind in ("layer", "class", "compare")]


def request_from_args(args) -> AtlasRequest:
    return AtlasRequest(
        layer=args.layer, images=args.images, cls=args.cls, compare=args.compare, grid=args.grid,
        threshold=args.threshold, positions=args.positions, margin=args.margin, attribution=not args.no_attribution,
        limit=args.limit, layout=args.layout, whiten=args.whiten, icon_size=args.icon_size, steps=args.steps,
        attempts=args.attempts, power=args.power, icon_batch=args.icon_batch, store=args.store,
        batch_size=args.batch_size, workers=args.workers, shard=args.shard, seed=args.seed)


def run(args) -> int:
    request = request_from_args(args)
    request.check()
    out = prepare_output_dir(args.out)
    model = model_from_args(args)
    atlas = request.run(model, out, progress=not args.no_progress)
    if atlas is None:
        print(f"collected part {args.shard} into {request.store_dir(out)}; run the other parts, then without --shard")
        return 0
    print(summary_line(atlas, out))
    return 0
