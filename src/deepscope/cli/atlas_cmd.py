"""`deepscope atlas`: collect activations, lay them out, render icons, write OUT/atlas.png + atlas.json."""
from __future__ import annotations

import sys
from pathlib import Path

from deepscope.cli.common import add_model_args, model_from_args
from deepscope.errors import DeepscopeError
from deepscope.viz.output import prepare_output_dir


def add_parser(sub) -> None:
    p = sub.add_parser("atlas", help="activation atlas of a layer (or of one class, or of two classes compared)",
                       description="Carter et al. 2019: sample activations over an image folder, lay them out "
                                   "with UMAP, bin them into a grid and render one icon per cell.")
    add_model_args(p)
    p.add_argument("--layer", required=True, help="layer name (see `deepscope layers`), e.g. blocks.5")
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument("--out", default="deepscope-atlas", help="output folder")
    p.add_argument("--grid", type=int, default=None, help="grid size g (g×g cells; default 20, 8 for --class, "
                                                          "10 for --compare)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--class", dest="cls", metavar="NAME", help="class atlas of one class (name or index)")
    what.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two classes")
    p.add_argument("--positions", type=int, default=1, help="random positions sampled per image (paper: 1)")
    p.add_argument("--margin", type=int, default=1, help="positions this close to the map's edge are not sampled")
    p.add_argument("--no-attribution", action="store_true",
                   help="skip per-position class attribution (faster; no class labels, no --class/--compare)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--layout", choices=("umap", "tsne", "pca"), default="umap")
    p.add_argument("--threshold", type=int, default=None,
                   help="minimum activations per cell (default 5; 4 for --class and --compare)")
    p.add_argument("--whiten", action="store_true", help="icons for the whitened direction v·pinv(AᵀA/N)")
    p.add_argument("--icon-size", type=int, default=None,
                   help="icon size in px (default: 80, or 3 map cells at coarse layers: 96 at blocks.5)")
    p.add_argument("--steps", type=int, default=512, help="optimization steps per icon")
    p.add_argument("--attempts", type=int, default=2, help="render each icon N times and keep the best")
    p.add_argument("--power", type=float, default=4.0, help="cossim power p of the icon objective dot·cos^p")
    p.add_argument("--icon-batch", type=int, default=32, help="cells optimized together")
    p.add_argument("--store", default=None, help="activation store folder (default OUT/activations); reused "
                                                 "and resumed when it exists")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass when collecting")
    p.add_argument("--workers", type=int, default=None, help="image-decoding threads (default: half the cores, 1-4)")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="collect only part I of N of the images (for several processes), then stop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.atlas import IconSettings, build_atlas, class_atlas, collect, compare_classes

    if args.positions < 1 or (args.icon_size or 80) < 8 or args.steps < 1 or args.attempts < 1 or args.icon_batch < 1:
        raise DeepscopeError("--positions, --steps, --attempts, --icon-batch must be at least 1, --icon-size 8")
    if args.no_attribution and (args.cls or args.compare):
        raise DeepscopeError("--class and --compare need attributions: drop --no-attribution")
    out = prepare_output_dir(args.out)
    store_dir = Path(args.store) if args.store else out / "activations"
    model = model_from_args(args)
    progress = not args.no_progress
    store = collect(model, args.layer, args.images, store_dir, positions=args.positions, margin=args.margin,
                    attribution=not args.no_attribution, seed=args.seed, batch_size=args.batch_size,
                    workers=args.workers, shard=args.shard, limit=args.limit, progress=progress)
    if store is None or args.shard:
        print(f"collected part {args.shard} into {store_dir}; run the other parts, then without --shard")
        return 0
    if store.failed:
        print(f"skipped {len(store.failed)} unreadable image(s) (listed in {store_dir}/shards/*/failed.json), "
              f"e.g. {store.failed[0]['reason']}", file=sys.stderr)
    icons = IconSettings(size=args.icon_size, steps=args.steps, attempts=args.attempts, power=args.power,
                         batch=args.icon_batch, seed=args.seed)
    common = {"layout": args.layout, "whiten": args.whiten, "icons": icons, "seed": args.seed, "progress": progress}
    try:
        if args.cls:
            atlas = class_atlas(model, store, args.cls, grid=args.grid or 8, threshold=_threshold(args, 4), **common)
        elif args.compare:
            common.pop("layout")
            atlas = compare_classes(model, store, *args.compare, grid=args.grid or 10,
                                    threshold=_threshold(args, 4), **common).atlas
        else:
            atlas = build_atlas(model, store, args.layer, grid=args.grid or 20, threshold=_threshold(args, 5), **common)
    except DeepscopeError as err:
        raise DeepscopeError(f"{err} (the {len(store)} collected activations stay in {store_dir}; "
                             "a rerun reuses them)") from err
    atlas.save(out)
    summary = atlas.to_json()
    fid = summary["fidelity"] or {}
    print(f"wrote {out}/atlas.png, atlas.json and {len(atlas.grid)} icons; "
          f"median centre cosine {fid.get('median_cosine', float('nan')):.3f}, "
          f"icons beating the best real activation {fid.get('fraction_beating_real', float('nan')):.0%}, "
          f"coherence ratio {summary['coherence'].get('ratio') or float('nan'):.3f}")
    return 0


def _threshold(args, default: int) -> int:
    return args.threshold if args.threshold is not None else default
