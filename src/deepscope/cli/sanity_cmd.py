"""`deepscope sanity`: do saliency maps depend on the model and the class? (Adebayo et al.; Nie et al.)"""
from __future__ import annotations

from pathlib import Path

from deepscope.cli.common import add_model_args, model_from_args, number, positive_int, seed
from deepscope.cli.defaults import SANITY
from deepscope.cli.saliency_cmd import add_method_args, method_kwargs


def add_parser(sub) -> None:
    p = sub.add_parser("sanity", help="sanity checks of saliency methods: model randomization, class sensitivity",
                       description="Writes OUT/sanity.json (numbers and a verdict per method), "
                                   "OUT/cascade.png and OUT/class_sensitivity.png.")
    add_model_args(p)
    p.add_argument("--method", default=",".join(SANITY["methods"]),
                   help="method(s), comma-separated, or 'all' (default: %(default)s)")
    p.add_argument("--images", required=True, help="a folder of images (or one image)")
    p.add_argument("-n", "--num-images", type=positive_int, default=SANITY["images"],
                   help="number of images, evenly spaced over the sorted folder (default %(default)s; the paper used 200)")
    p.add_argument("--seed", type=seed, default=SANITY["seed"],
                   help="seed of the randomization, random classes and random mask")
    p.add_argument("--threshold", type=number(float, -1, 1), default=SANITY["randomization_threshold"],
                   help="a method passes when its mean rank correlation falls below this in the top half")
    p.add_argument("--out", default="deepscope-sanity", help="output folder")
    add_method_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.attribution import parse_methods
    from deepscope.attribution.report import sanity_folder
    from deepscope.attribution.sanity import SanityConfig

    cfg = SanityConfig(methods=parse_methods(args.method), layer=args.layer, seed=args.seed, batch=args.batch,
                       randomization_threshold=args.threshold, options=method_kwargs(args))
    report = sanity_folder(model_from_args(args), args.images, args.out, cfg, count=args.num_images,
                           size=args.size, progress=not args.no_progress)
    control = report["random_mask_control"]
    print(f"random-mask control: max |rho| {control['max_abs_spearman']:.3f}")
    width = max(len(m) for m in report["methods"])
    for method, entry in report["methods"].items():
        print(f"{method:<{width}}  randomization: {entry['randomization']['verdict']}")
        print(f"{'':<{width}}  class:         {entry['class_sensitivity']['verdict']}")
    print(f"-> {Path(args.out)}/sanity.json, cascade.png, class_sensitivity.png")
    return 0
