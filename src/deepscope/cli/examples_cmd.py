"""`deepscope examples`: top-k dataset examples per channel, receptive-field crops, deconvnet projections."""
from __future__ import annotations

from deepscope.cli.common import (
    add_engine_args,
    add_model_args,
    add_workers_arg,
    count,
    engine_from_args,
    index_list,
    model_from_args,
    nonnegative_float,
    pixels,
    positive_int,
    print_skipped,
)


def add_parser(sub) -> None:
    p = sub.add_parser("examples", help="top-k dataset examples of each channel of a layer (Zeiler & Fergus)",
                       description="One resumable pass over an image folder: for every channel (or --channels), "
                                   "the images with the highest spatial max of its activation, the receptive-field "
                                   "crop around the strongest position, a deconvnet projection, a sheet per channel "
                                   "and examples.json. A rerun continues an interrupted pass; a finished one does no work.")
    add_model_args(p)
    p.add_argument("--layer", required=True, help="layer name (see `deepscope layers`)")
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--top", type=positive_int, default=9, help="examples per channel (default 9)")
    p.add_argument("--channels", type=index_list(), default=None, help="channels, e.g. 0-15 or 0,3,8-11 (default: all)")
    p.add_argument("--size", type=pixels(), default=None, help="input size (default: the model's)")
    p.add_argument("--batch", type=positive_int, default=16, help="images per forward pass")
    p.add_argument("--deconv", type=count, default=1, metavar="N",
                   help="deconvnet projections of the N best examples per channel (0: none)")
    fv = p.add_mutually_exclusive_group()
    fv.add_argument("--with-fv", action="store_true", help="render each channel's feature visualization (into OUT/fv)")
    fv.add_argument("--fv-dir", help="a `deepscope render` folder to take feature visualizations from")
    p.add_argument("--fv-steps", type=positive_int, default=256, help="steps for --with-fv")
    p.add_argument("--fv-size", type=pixels(), default=128, help="image size for --with-fv")
    p.add_argument("--checkpoint-seconds", type=nonnegative_float, default=10.0,
                   help="how often the pass is checkpointed (0: after every batch)")
    add_workers_arg(p)
    add_engine_args(p)
    p.add_argument("--out", default="deepscope-examples", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.data import image_files
    from deepscope.examples import dataset_examples

    files = image_files(args.images)
    model = model_from_args(args)
    model.resolve(args.layer)
    with engine_from_args(args, model) as engine:
        report = dataset_examples(
            model, args.layer, files, args.out, channels=args.channels, k=args.top, size=args.size,
            batch_size=args.batch, deconv=args.deconv, with_fv=args.with_fv, fv_dir=args.fv_dir, fv_size=args.fv_size,
            fv_steps=args.fv_steps, progress=not args.no_progress, checkpoint_seconds=args.checkpoint_seconds,
            workers=args.workers, key_extra={"weights": args.weights}, engine=engine)
    print_skipped("examples", report["files"]["skipped"], report["files"]["total"], f"{args.out}/examples.json")
    print(f"top-{args.top} examples of {len(report['channels'])} channels of {args.layer} from "
          f"{report['files']['read']} images: {args.out}/examples.json, overview.png, channels/")
    return 0
