"""`deepscope map`: a t-SNE/UMAP grid of an image set by its penultimate-layer (CNN) codes."""
from __future__ import annotations

from deepscope.cli.common import (
    add_engine_args,
    add_model_args,
    add_workers_arg,
    engine_from_args,
    model_from_args,
    number,
    pixels,
    positive_int,
    print_skipped,
    seed,
)
from deepscope.cli.defaults import MAP_METHODS

MAX_CELLS = 1000  # rows or columns; the grid also needs an image per cell (checked with the images)


def add_parser(sub) -> None:
    p = sub.add_parser("map", help="CNN-code map: images on a grid by their penultimate-layer codes (Karpathy)",
                       description="Penultimate-layer codes (the classifier's input) -> t-SNE or UMAP -> a grid "
                                   "where each cell holds its nearest image, no image twice. map.json reports the "
                                   "seam statistic (mean code distance of grid neighbours / of random pairs) and "
                                   "how often neighbours share a top-1 label against chance.")
    add_model_args(p)
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--method", choices=MAP_METHODS, default="tsne", help="2-D layout (default tsne)")
    p.add_argument("--rows", type=number(int, 1, MAX_CELLS), default=None, help="grid rows (default: the largest square that fills)")
    p.add_argument("--cols", type=number(int, 1, MAX_CELLS), default=None, help="grid columns")
    p.add_argument("--thumb", type=pixels(4, 512), default=48, help="thumbnail size in pixels")
    p.add_argument("--size", type=pixels(32), default=None, help="input size (default: the model's)")
    p.add_argument("--batch", type=positive_int, default=16, help="images per forward pass")
    p.add_argument("--seed", type=seed, default=0)
    add_workers_arg(p)
    add_engine_args(p)
    p.add_argument("--out", default="deepscope-map", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.data import image_files
    from deepscope.examples.code_map import code_map

    files = image_files(args.images)
    model = model_from_args(args)
    with engine_from_args(args, model) as engine:
        report = code_map(model, files, args.out, method=args.method, rows=args.rows, cols=args.cols,
                          size=args.size, batch_size=args.batch, thumb=args.thumb, seed=args.seed,
                          progress=not args.no_progress, workers=args.workers,
                          key_extra={"weights": args.weights}, engine=engine)
    print_skipped("map", report["files"]["skipped"], len(files), f"{args.out}/map.json")
    seam, labels = report["seam"], report["labels"]
    print(f"{report['grid'][0]}x{report['grid'][1]} map of {report['files']['read']} images: seam statistic "
          f"{seam['ratio']:.3f}, {seam['floor_ratio']:.2f}x its floor; neighbours share the top-1 label {labels['top1_neighbours']:.3f} "
          f"(chance {labels['top1_chance']:.4f}); {args.out}/map.png, map.json")
    return 0
