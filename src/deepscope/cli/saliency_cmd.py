"""`deepscope saliency`: saliency maps (captum-backed) of images, as PNG overlays and raw .npy arrays."""
from __future__ import annotations

from pathlib import Path

from deepscope.attribution import get_method, method_names, parse_methods
from deepscope.attribution.methods import DEFAULT_BATCH
from deepscope.attribution.report import DEFAULT_METHOD, saliency_folder
from deepscope.cli.common import add_model_args, model_from_args

OPTIONS = ("samples", "noise", "steps", "window", "stride")


def add_method_args(p) -> None:
    """Method choice and options, shared with `deepscope sanity`."""
    smooth, ig = get_method("smoothgrad").defaults, get_method("integrated-gradients").defaults
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last conv-like layer)")
    p.add_argument("--size", type=int, default=None, help="input size in pixels (default: the model's)")
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="images per batch")
    p.add_argument("--samples", type=int, default=None, help=f"smoothgrad: noisy samples (default {smooth['samples']})")
    p.add_argument("--noise", type=float, default=None,
                   help=f"smoothgrad: noise std on [0,1] images (default {smooth['noise']})")
    p.add_argument("--steps", type=int, default=None, help=f"integrated gradients: steps (default {ig['steps']})")
    p.add_argument("--window", type=int, default=None, help="occlusion: square side in px (default size/8)")
    p.add_argument("--stride", type=int, default=None, help="occlusion: stride in px (default window/2)")
    p.add_argument("--no-progress", action="store_true")


def method_kwargs(args) -> dict:
    """The method options given on the command line (the library checks them)."""
    return {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}


def add_parser(sub) -> None:
    p = sub.add_parser("saliency", help="saliency maps of images (gradient, Grad-CAM, guided backprop, ...)",
                       description="Methods: " + ", ".join(method_names(specific=True))
                       + ". Writes OUT/<image>.<method>.png "
                       "(overlay), OUT/<image>.<method>.npy (raw attribution, C x H x W) and OUT/saliency.json.")
    add_model_args(p)
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help="method(s), comma-separated, or 'all' (default %(default)s)")
    p.add_argument("--images", required=True, help="an image file or a folder of images")
    p.add_argument("--target", default=None, metavar="NAME_OR_INDEX",
                   help="class to explain, by name or index (default: each image's top-1 class)")
    p.add_argument("--limit", type=int, default=None, help="use at most N images of the folder")
    p.add_argument("--out", default="deepscope-saliency", help="output folder")
    add_method_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    methods, options = parse_methods(args.method), method_kwargs(args)
    summary = saliency_folder(model_from_args(args), args.images, args.out, methods, target=args.target,
                              size=args.size, batch=args.batch, limit=args.limit, layer=args.layer,
                              options=options, progress=not args.no_progress)
    print(f"{len(summary['images'])} image(s) x {len(methods)} method(s) -> {Path(args.out)}/ "
          "(saliency.json lists the files)")
    return 0
