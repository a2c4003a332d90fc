"""`deepscope patch`: patch attacks built from what the network associates with one class but not
another (Carter et al. 2019), with a same-size random-noise control."""
from __future__ import annotations

from deepscope.cli.common import add_model_args, fractions, given, model_from_args, pixels, positive_int, seed
from deepscope.cli.defaults import PATCH


def add_parser(sub) -> None:
    p = sub.add_parser(
        "patch", help="patch attacks from class-difference visualizations / atlas cells, with a noise control",
        description="Pastes each candidate patch at width ratios 0.2/0.4/0.7 in every corner and counts how often "
                    "the top-1 becomes the target class. Without --from/--to the tool picks the pair itself "
                    "(the model's most confusable pairs, ranked by their two-class comparison when --atlas-store is given, "
                    "screened; the widest margin over noise wins).")
    add_model_args(p)
    p.add_argument("--images", required=True, help="image folder (e.g. ImageNet samples named <wnid>_<name>.JPEG)")
    p.add_argument("--from", dest="source_class", help="class A (name or index); omit with --to for an automatic pair")
    p.add_argument("--to", dest="target_class", help="class B, the target")
    p.add_argument("--mode", choices=("universal", "targeted"), default=None,
                   help="universal: paste into every image not already B (default without --from); targeted: only "
                        "images of A classified A before (default with --from)")
    p.add_argument("--layer", default=None, help="mid layer for the class-direction patch (default: the atlas "
                   "store's layer, else a middle block)")
    p.add_argument("--atlas-store", help="activation store with attribution (the `activations` folder, or --store, of a "
                   "`deepscope atlas` run): adds the two-class comparison's icons and the class direction restricted to its B-side "
                   "cells as candidates, and ranks automatic pairs by their comparison")
    p.add_argument("--pairs", type=positive_int, default=None, help="pairs screened when the tool picks the pair (with "
                   "--atlas-store: the top N of 4N confusable pairs, ranked by their two-class comparison)")
    p.add_argument("--screen", type=positive_int, default=None,
                   help=f"images each candidate is screened on (default {PATCH['screen']})")
    p.add_argument("--ratios", type=fractions, default=None,
                   help="patch widths as fractions of the image width (default {})".format(",".join(map(str, PATCH["ratios"]))))
    p.add_argument("--size", type=pixels(16), default=None, help=f"render size of the patches (default {PATCH['size']} px)")
    p.add_argument("--steps", type=positive_int, default=None, help=f"render steps per patch (default {PATCH['steps']})")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N images")
    p.add_argument("--batch", type=positive_int, default=None, help=f"default {PATCH['batch']}")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--out", default="deepscope-patch", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def request_from_args(args):
    from deepscope.probes.patch_request import PatchRequest

    options = given(args, ("mode", "layer", "atlas_store", "pairs", "screen", "ratios", "size", "steps", "limit",
                           "batch", "seed"))
    return PatchRequest(images=args.images, source=args.source_class or None, target=args.target_class or None,
                        **options)


def run(args) -> int:
    from deepscope.viz.output import prepare_output_dir

    request = request_from_args(args)
    request.check()
    out = prepare_output_dir(args.out)
    report = request.run(model_from_args(args), out, progress=not args.no_progress)
    mode = report["mode"]
    if not report["pairs"]:
        print(f"no pair had images to measure ({mode} mode); see {out / 'report.json'}")
        return 1
    for pair in report["pairs"]:
        best, noise = pair["best"], pair["noise"]
        print(f"{pair['names'][0]} -> {pair['names'][1]} ({mode}, {best['eligible']} images): patch "
              f"{best['name']} {100 * best['best_rate']:.1f}% best size+corner / {100 * best['fixed_rate']:.1f}% "
              f"fixed ({best['fixed_placement']}); noise {100 * noise['best_rate']:.1f}% / "
              f"{100 * noise['fixed_rate']:.1f}%")
        atlas = pair.get("best_atlas")
        if atlas and atlas["name"] != best["name"]:
            print(f"  best atlas patch {atlas['name']}: {100 * atlas['best_rate']:.1f}% / "
                  f"{100 * atlas['fixed_rate']:.1f}% ({atlas['fixed_placement']})")
    pooled = report["pooled"]
    print(f"pooled: patch {100 * pooled['patch']['best_rate']:.1f}% / {100 * pooled['patch']['fixed_rate']:.1f}%, "
          f"noise {100 * pooled['noise']['best_rate']:.1f}% / {100 * pooled['noise']['fixed_rate']:.1f}%")
    print(f"wrote report.json, patches.png and patches/ to {out}")
    return 0
