"""`deepscope saliency`: saliency maps (captum-backed) of images, as PNG overlays and raw .npy arrays."""
from __future__ import annotations

from pathlib import Path

from deepscope.cli.common import add_model_args, model_from_args, nonnegative_float, pixels, positive_int
from deepscope.cli.defaults import (
    INTEGRATED_GRADIENTS,
    SALIENCY_BATCH,
    SALIENCY_DEFAULT,
    SALIENCY_METHODS,
    SALIENCY_MIN_SIZE,
    SMOOTHGRAD,
)

OPTIONS = ("samples", "noise", "steps", "window", "stride")


def add_method_args(p) -> None:
    """Method choice and options, shared with `deepscope sanity`."""
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last conv-like layer)")
    p.add_argument("--size", type=pixels(SALIENCY_MIN_SIZE), default=None,
                   help="input size in pixels (default: the model's)")
    p.add_argument("--batch", type=positive_int, default=SALIENCY_BATCH, help="images per batch")
    p.add_argument("--samples", type=positive_int, default=None,
                   help=f"smoothgrad: noisy samples (default {SMOOTHGRAD['samples']})")
    p.add_argument("--noise", type=nonnegative_float, default=None,
                   help=f"smoothgrad: noise std on [0,1] images (default {SMOOTHGRAD['noise']})")
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"integrated gradients: steps (default {INTEGRATED_GRADIENTS['steps']})")
    p.add_argument("--window", type=pixels(1), default=None, help="occlusion: square side in px (default size/8)")
    p.add_argument("--stride", type=pixels(1), default=None, help="occlusion: stride in px (default window/2)")
    p.add_argument("--no-progress", action="store_true")


def method_kwargs(args) -> dict:
    """The method options given on the command line (the library checks them)."""
    return {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}


def add_parser(sub) -> None:
    p = sub.add_parser("saliency", help="saliency maps of images (gradient, Grad-CAM, guided backprop, ...)",
                       description="Methods: " + ", ".join(SALIENCY_METHODS)
                       + ". Writes OUT/<image>.<method>.png "
                       "(overlay), OUT/<image>.<method>.npy (raw attribution, C x H x W) and OUT/saliency.json.")
    add_model_args(p)
    p.add_argument("--method", default=SALIENCY_DEFAULT,
                   help="method(s), comma-separated, or 'all' (default %(default)s)")
    p.add_argument("--images", required=True, help="an image file or a folder of images")
    p.add_argument("--target", default=None, metavar="NAME_OR_INDEX",
                   help="class to explain, by name or index (default: each image's top-1 class)")
    p.add_argument("--limit", type=positive_int, default=None, help="use at most N images of the folder")
    p.add_argument("--out", default="deepscope-saliency", help="output folder")
    add_method_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.attribution import parse_methods
    from deepscope.attribution.report import saliency_folder

    methods, options = parse_methods(args.method), method_kwargs(args)
    summary = saliency_folder(model_from_args(args), args.images, args.out, methods, target=args.target,
                              size=args.size, batch=args.batch, limit=args.limit, layer=args.layer,
                              options=options, progress=not args.no_progress)
    print(f"{len(summary['images'])} image(s) x {len(methods)} method(s) -> {Path(args.out)}/ "
          "(saliency.json lists the files)")
    return 0
