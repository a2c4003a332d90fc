"""`deepscope patch`: patch attacks built from what the network associates with one class but not
another (Carter et al. 2019), with a same-size random-noise control."""
from __future__ import annotations

from deepscope.cli.common import add_model_args, model_from_args
from deepscope.errors import DeepscopeError
from deepscope.probes.patch_request import PatchRequest
from deepscope.viz.output import prepare_output_dir


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
    p.add_argument("--pairs", type=int, default=3, help="pairs screened when the tool picks the pair (with "
                   "--atlas-store: the top N of 4N confusable pairs, ranked by their two-class comparison)")
    p.add_argument("--screen", type=int, default=48, help="images each candidate is screened on")
    p.add_argument("--ratios", default="0.2,0.4,0.7", help="patch widths as fractions of the image width")
    p.add_argument("--size", type=int, default=128, help="render size of the patches (px)")
    p.add_argument("--steps", type=int, default=256, help="render steps per patch")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="deepscope-patch", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _ratios(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DeepscopeError(f"cannot read --ratios {text!r}: give fractions like 0.2,0.4,0.7") from None


def request_from_args(args) -> PatchRequest:
    return PatchRequest(images=args.images, source=args.source_class or None, target=args.target_class or None,
                        mode=args.mode, layer=args.layer, atlas_store=args.atlas_store, pairs=args.pairs,
                        screen=args.screen, ratios=_ratios(args.ratios), size=args.size, steps=args.steps,
                        limit=args.limit, batch=args.batch, seed=args.seed)


def run(args) -> int:
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
