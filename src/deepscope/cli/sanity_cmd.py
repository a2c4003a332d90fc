"""`deepscope sanity`: do saliency maps depend on the model and the class? (Adebayo et al.; Nie et al.)"""
from __future__ import annotations

import json

from deepscope.attribution.cam_layer import cam_layer
from deepscope.attribution.inputs import load_images
from deepscope.attribution.sanity import DEFAULT_METHODS, SanityConfig, run_sanity
from deepscope.attribution.sanity_plot import plot_cascade, plot_class_sensitivity
from deepscope.cli.common import add_model_args, model_from_args
from deepscope.cli.saliency_cmd import add_method_args, check_size, method_kwargs, parse_methods
from deepscope.errors import DeepscopeError
from deepscope.viz.output import prepare_output_dir, write_atomic


def add_parser(sub) -> None:
    p = sub.add_parser("sanity", help="sanity checks of saliency methods: model randomization, class sensitivity",
                       description="Writes OUT/sanity.json (numbers and a verdict per method), "
                                   "OUT/cascade.png and OUT/class_sensitivity.png.")
    add_model_args(p)
    p.add_argument("--method", default=",".join(DEFAULT_METHODS),
                   help="method(s), comma-separated, or 'all' (default: %(default)s)")
    p.add_argument("--images", required=True, help="a folder of images (or one image)")
    p.add_argument("-n", "--num-images", type=int, default=16, help="number of images, evenly spaced over the sorted folder (default 16; the paper used 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomization, random classes and random mask")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="a method passes when its mean rank correlation falls below this in the top half")
    p.add_argument("--out", default="deepscope-sanity", help="output folder")
    add_method_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    methods = parse_methods(args.method)
    options = method_kwargs(args)
    if args.num_images < 1:
        raise DeepscopeError(f"--num-images must be at least 1, got {args.num_images}")
    model = model_from_args(args)
    size = check_size(args, model)
    if args.layer is not None:
        cam_layer(model, args.layer)
    out = prepare_output_dir(args.out)
    images, files, skipped = load_images(args.images, size, args.num_images, spread=True)
    cfg = SanityConfig(methods=methods, layer=args.layer, seed=args.seed, batch=args.batch,
                       randomization_threshold=args.threshold, options=options)
    say = (lambda msg: None) if args.no_progress else (lambda msg: print(f"[sanity] {msg}", flush=True))
    report = run_sanity(model, images, cfg, progress=say)
    report["files"] = [str(f) for f in files]
    report["skipped"] = skipped
    report["options"] = options
    write_atomic(out / "sanity.json", json.dumps(report, indent=1))
    plot_cascade(report, out / "cascade.png")
    plot_class_sensitivity(report, out / "class_sensitivity.png")
    control = report["random_mask_control"]
    print(f"random-mask control: max |rho| {control['max_abs_spearman']:.3f}")
    width = max(len(m) for m in report["methods"])
    for method, entry in report["methods"].items():
        print(f"{method:<{width}}  randomization: {entry['randomization']['verdict']}")
        print(f"{'':<{width}}  class:         {entry['class_sensitivity']['verdict']}")
    print(f"-> {out}/sanity.json, cascade.png, class_sensitivity.png")
    return 0
