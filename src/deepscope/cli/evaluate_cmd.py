"""`deepscope evaluate`: how faithful are saliency maps to the model? Deletion and insertion, ROAD,
Random Logit, Sparseness, and the randomization checks of `deepscope sanity`."""
from __future__ import annotations

import argparse

from deepscope.cli.common import (
    add_model_args,
    given,
    model_from_args,
    nonnegative_float,
    pixels,
    positive_int,
    seed,
)

METRIC_NAMES = ("deletion", "insertion", "road", "random-logit", "sparseness", "randomization")
# what the help shows; tests/test_evaluate.py checks each against EvaluateConfig and the runner
HELP_DEFAULTS = {"methods": ("gradient", "guided-backprop", "grad-cam"), "steps": 50,
                 "percentages": (10, 20, 30, 40, 50, 60, 70, 80, 90), "noise": 0.01, "images": 16, "eval_batch": 8}


def percentages(text: str) -> tuple[int, ...]:
    """'10,50,90' -> whole percentages strictly between 0 and 100."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(0 < v < 100 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give whole percentages between 1 and 99 like 10,50,90")
    return values


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="faithfulness of saliency methods: deletion, insertion, ROAD, "
                                        "Random Logit, Sparseness, randomization",
                       description="Writes OUT/evaluate.json (every number, per image), OUT/evaluate.md and "
                                   "OUT/evaluate.csv (the table), OUT/<method>.png per method, and with the "
                                   "randomization checks OUT/cascade.png and OUT/class_sensitivity.png. Reruns "
                                   "with the same settings skip finished work.")
    add_model_args(p)
    p.add_argument("--method", default=",".join(HELP_DEFAULTS["methods"]),
                   help="saliency method(s), comma-separated, or 'all' (default: %(default)s)")
    p.add_argument("--metric", default="all",
                   help=f"metric(s), comma-separated, or 'all' (default): {', '.join(METRIC_NAMES)}")
    p.add_argument("--images", required=True, help="a folder of images (or one image)")
    p.add_argument("-n", "--num-images", type=positive_int, default=HELP_DEFAULTS["images"],
                   help="number of images, evenly spaced over the sorted folder (default %(default)s)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"deletion and insertion: perturbation steps (default {HELP_DEFAULTS['steps']})")
    p.add_argument("--percentages", type=percentages, default=None,
                   help="ROAD: percentages of the pixels removed (default "
                        f"{','.join(map(str, HELP_DEFAULTS['percentages']))})")
    p.add_argument("--road-noise", dest="noise", type=nonnegative_float, default=None,
                   help=f"ROAD: noise std of the imputed pixels, on [0,1] images (default {HELP_DEFAULTS['noise']})")
    p.add_argument("--seed", type=seed, default=None, help="seed of the noise, random maps and random classes")
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last conv-like layer)")
    p.add_argument("--size", type=pixels(32), default=None, help="input size in pixels (default: the model's)")
    p.add_argument("--batch", type=positive_int, default=None, help="images per attribution batch")
    p.add_argument("--eval-batch", type=positive_int, default=None,
                   help=f"perturbed images per forward pass (default {HELP_DEFAULTS['eval_batch']})")
    p.add_argument("--no-control", dest="control", action="store_false",
                   help="skip the random-map reference row")
    p.add_argument("--out", default="deepscope-evaluate", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from deepscope.attribution import parse_methods
    from deepscope.attribution.faithfulness.measure import EvaluateConfig, parse_metrics
    from deepscope.attribution.faithfulness.runner import evaluate_folder, output_files
    from deepscope.attribution.faithfulness.table import markdown

    options = given(args, ("steps", "percentages", "noise", "seed", "layer", "batch", "eval_batch"))
    cfg = EvaluateConfig(methods=tuple(parse_methods(args.method)), metrics=parse_metrics(args.metric),
                         control=args.control, **options)
    report = evaluate_folder(model_from_args(args), args.images, args.out, cfg, count=args.num_images,
                             size=args.size, progress=not args.no_progress)
    print(markdown(report))
    print(f"-> {Path(args.out)}/" + ", ".join(output_files(report)))
    return 0
