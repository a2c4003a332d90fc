"""Benchmark: deepscope's `render` against Lucent, dreamlens and the bare forward+backward floor.

One process, one model (`--model`, default the embedded EfficientNet-Lite0, normalization mean = std
= 0.5 for all; `--model vit_tiny_patch16_224 --no-pretrained` times a ViT's token layer), one layer. Two parts, both written to bench/results/render.json (resumable with --resume):

- timing: seconds per channel per optimization step at `--size` px, batch 16 and batch 1; the
  libraries run round-robin in `--repeats` rounds of short renders, each step timed inside the
  library's own loop (see step_timer.py); medians over all steps after warm-up.
- quality: channels 0-7 rendered with `--quality-steps` steps, evaluated untransformed at `--size`
  px (channel spatial mean) against the best of the 1000 ImageNet sample photos, at 224 px and at
  `--size` px (shorter side resized, centre crop).

Run: `.venv/bin/python bench/render.py` (see bench/README.md).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, SHARED_DATA, Results, choose_threads, environment
from floor import check_truncation, floor_step_fn, frozen
from peers import RUNNERS
from photos import best_photo_activations, channel_scores
from step_timer import median, step_times, timed_loop

from deepscope.models import load_model
from deepscope.viz.sheet import contact_sheet

REDIRECT_STEPS = 16  # deepscope's default: the first 16 steps use the redirected ReLU gradient
WARMUP = 2  # step gaps dropped at the start of every timed call
PEERS = ("lucent", "dreamlens", "dreamlens_neurons")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="efficientnet_lite0", help="any name `load_model` knows (e.g. vit_tiny_patch16_224)")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                   help="random weights (timing only: the quality section is skipped)")
    p.add_argument("--layer", default="blocks.4")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--libs", default="deepscope,lucent,dreamlens,dreamlens_neurons",
                   help="comma-separated, from: " + ", ".join(RUNNERS))
    p.add_argument("--batches", default="16,1", help="batch sizes to time (channels 0..B-1)")
    p.add_argument("--timing-steps", type=int, default=8, help="timed steps per call after warm-up")
    p.add_argument("--repeats", type=int, default=3, help="round-robin rounds of timing calls")
    p.add_argument("--quality-channels", default="0-7")
    p.add_argument("--quality-steps", type=int, default=256)
    p.add_argument("--threads", default="auto", help="torch threads; auto = 2 if the machine is idle, else 1")
    p.add_argument("--photos", default=str(SHARED_DATA / "imagenet-samples"))
    p.add_argument("--photo-sizes", default="224,128", help="photo input sizes (resize + centre crop)")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--out", default=None, help="default: bench/results/render.json (render_<model>.json for others)")
    p.add_argument("--resume", action="store_true", help="keep sections already in --out (same config)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = str(RESULTS / ("render.json" if args.model == "efficientnet_lite0" else f"render_{args.model}.json"))
    if not args.pretrained and not args.skip_quality:
        print("random weights: the quality section (renders against photos) is skipped", flush=True)
        args.skip_quality = True
    return args


def index_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


# --- timing -------------------------------------------------------------------------------------
def time_call(lib: str, model, layer: str, channels: list[int], size: int, steps: int) -> dict:
    """One short render of `lib`; step gaps in seconds (deepscope: split by ReLU-redirect phase)."""
    if lib == "deepscope":
        with step_times() as gaps:
            RUNNERS[lib](model, layer, channels, size, REDIRECT_STEPS + steps + 1)
        # gap k is step k+1; steps 1..15 redirected, step 16 is the first plain one (skipped).
        return {"steps": gaps[REDIRECT_STEPS:], "redirected": gaps[WARMUP:REDIRECT_STEPS - 1]}
    with step_times() as gaps:
        RUNNERS[lib](model, layer, channels, size, steps + WARMUP + 1)
    return {"steps": gaps[WARMUP:]}


def time_floor(model, layer: str, channels: list[int], size: int, steps: int) -> list[float]:
    with frozen(model):
        return timed_loop(floor_step_fn(model, layer, channels, size), steps + WARMUP)[WARMUP:]


def deepscope_input_size(model, layer: str, size: int) -> int:
    """Side of the images deepscope's default render actually hands to the network."""
    seen = []
    handle = model.net.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].shape[-1]))
    try:
        RUNNERS["deepscope"](model, layer, [0], size, 1)
    finally:
        handle.remove()
    return int(seen[0])


def run_timing(args, model, libs: list[str], batch: int) -> dict:
    channels = list(range(batch))
    big = deepscope_input_size(model, args.layer, args.size)
    entries = libs + ["floor"] + ([f"floor@{big}px"] if big != args.size else [])
    pooled: dict[str, dict[str, list]] = {e: {"steps": [], "redirected": []} for e in entries}
    rounds: dict[str, list[float]] = {e: [] for e in entries}
    for r in range(args.repeats):
        order = entries[r % len(entries):] + entries[:r % len(entries)]  # rotate: no fixed position
        for entry in order:
            start = time.perf_counter()
            if entry == "floor":
                timed = {"steps": time_floor(model, args.layer, channels, args.size, args.timing_steps)}
            elif entry.startswith("floor@"):
                timed = {"steps": time_floor(model, args.layer, channels, big, args.timing_steps)}
            else:
                timed = time_call(entry, model, args.layer, channels, args.size, args.timing_steps)
            for key, gaps in timed.items():
                pooled[entry][key].extend(gaps)
            rounds[entry].append(median(timed["steps"]) / batch)
            print(f"  batch {batch} round {r + 1}/{args.repeats} {entry:18s} "
                  f"{1000 * rounds[entry][-1]:8.2f} ms/channel-step  ({time.perf_counter() - start:.1f} s)",
                  flush=True)
    per = {e: {"ms_per_channel_step": 1000 * median(pooled[e]["steps"]) / batch,
               "round_medians_ms": [round(1000 * x, 3) for x in rounds[e]],
               "timed_steps": len(pooled[e]["steps"])} for e in entries}
    ds = per.get("deepscope")
    if ds is not None:
        redirected = 1000 * median(pooled["deepscope"]["redirected"]) / batch
        steady = ds["ms_per_channel_step"]
        n = max(args.quality_steps, REDIRECT_STEPS)
        ds["ms_redirected_steps"] = redirected
        ds["ms_amortized"] = (REDIRECT_STEPS * redirected + (n - REDIRECT_STEPS) * steady) / n
        ds["amortized_over_steps"] = n
    return {"batch": batch, "channels": channels, "size": args.size, "model_input_px_deepscope": big,
            "per_library": per, "ratios": ratios(per, libs)}


def ratios(per: dict, libs: list[str]) -> dict:
    """deepscope / X per channel-step (< 1: deepscope is faster), for its plain and amortized steps."""
    if "deepscope" not in per:
        return {}
    out = {}
    for key in ("ms_per_channel_step", "ms_amortized"):
        ds = per["deepscope"][key]
        out[key] = {f"deepscope/{e}": ds / per[e]["ms_per_channel_step"]
                    for e in per if e != "deepscope"}
    return out


# --- quality ------------------------------------------------------------------------------------
def run_photos(args, model) -> dict:
    return {str(s): best_photo_activations(model, args.layer, args.photos, s)
            for s in map(int, args.photo_sizes.split(","))}


def run_quality(args, model, lib: str, photos: dict) -> tuple[dict, torch.Tensor]:
    channels = index_range(args.quality_channels)
    start = time.perf_counter()
    images = RUNNERS[lib](model, args.layer, channels, args.size, args.quality_steps)
    wall = time.perf_counter() - start
    scores = channel_scores(model, args.layer, channels, images)
    best = {s: [photos[s]["max"][c] for c in channels] for s in photos}
    best_any = [max(best[s][i] for s in best) for i in range(len(channels))]
    ratio_per = {s: [a / b for a, b in zip(scores, best[s])] for s in best}
    ratio_any = [a / b for a, b in zip(scores, best_any)]
    summary = lambda xs: {"worst": min(xs), "median": statistics.median(xs)}
    return {
        "channels": channels, "steps": args.quality_steps, "size": args.size, "scores": scores,
        "best_photo": best_any, "ratio": ratio_any, **summary(ratio_any),
        "by_photo_size": {s: {"ratio": ratio_per[s], **summary(ratio_per[s])} for s in ratio_per},
        "wall_s": wall, "ms_per_channel_step_in_this_run": 1000 * wall / (len(channels) * args.quality_steps),
    }, images


# --- report -------------------------------------------------------------------------------------
def print_report(data: dict) -> None:
    env = data["sections"].get("environment", {})
    print(f"\n== render benchmark: {data['config'].get('model')} {data['config'].get('layer')} "
          f"({env.get('threads')} thread(s), load at start "
          f"{env.get('load_avg_at_start')}, {env.get('date')}) ==")
    for key in sorted(k for k in data["sections"] if k.startswith("timing.")):
        t = data["sections"][key]
        print(f"\nbatch {t['batch']}, {t['size']} px (deepscope's model input after transforms: "
              f"{t['model_input_px_deepscope']} px); ms per channel-step, median [round medians]")
        ds = t["per_library"].get("deepscope")
        for name, v in t["per_library"].items():
            rounds = ", ".join(f"{x:.1f}" for x in v["round_medians_ms"])
            extra = ""
            if name == "deepscope":
                extra = (f"  (redirected steps {v['ms_redirected_steps']:.2f}, amortized over "
                         f"{v['amortized_over_steps']} steps {v['ms_amortized']:.2f})")
            ratio = f"  deepscope/this = {ds['ms_per_channel_step'] / v['ms_per_channel_step']:.2f}" \
                if ds and name != "deepscope" else ""
            print(f"  {name:18s} {v['ms_per_channel_step']:8.2f} [{rounds}]{ratio}{extra}")
    quality = {k.split(".", 1)[1]: v for k, v in data["sections"].items() if k.startswith("quality.")}
    if quality:
        sizes = list(next(iter(quality.values()))["by_photo_size"])
        print("\nquality: render activation / best photo activation (channel spatial mean, untransformed)")
        header = "  ".join(f"@{s}px worst/median" for s in sizes)
        print(f"  {'library':18s} {'worst':>7s} {'median':>7s}   {header}   ms/ch-step(run)")
        for name, q in quality.items():
            per = "  ".join(f"{q['by_photo_size'][s]['worst']:7.2f}/{q['by_photo_size'][s]['median']:<7.2f}"
                            for s in sizes)
            print(f"  {name:18s} {q['worst']:7.2f} {q['median']:7.2f}   {per}         "
                  f"{q['ms_per_channel_step_in_this_run']:.1f}")


def main(argv=None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # Lucent/kornia deprecation noise
    threads = choose_threads(args.threads)
    torch.set_num_threads(threads)
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    unknown = [lib for lib in libs if lib not in RUNNERS]
    if unknown:
        sys.exit(f"unknown --libs {unknown}; choose from {', '.join(RUNNERS)}")
    config = {k: v for k, v in vars(args).items() if k not in ("resume", "skip_timing", "skip_quality", "out")}
    if args.model == "efficientnet_lite0" and args.pretrained:  # the configuration of earlier results files
        del config["model"], config["pretrained"]
    config["threads"] = threads
    results = Results(Path(args.out), config, args.resume)
    model = load_model(args.model, pretrained=args.pretrained)
    if not results.has("environment"):
        env = environment(threads)
        env["floor_truncation_max_abs_diff"] = check_truncation(model, args.layer, args.size)
        results.put("environment", env)

    if not args.skip_timing:
        for batch in map(int, args.batches.split(",")):
            key = f"timing.batch{batch}"
            if not results.has(key):
                print(f"timing batch {batch} ...", flush=True)
                results.put(key, run_timing(args, model, libs, batch))

    if not args.skip_quality:
        if not results.has("photos"):
            print("best photo activations ...", flush=True)
            results.put("photos", run_photos(args, model))
        photos = results.get("photos")
        for lib in libs:
            key = f"quality.{lib}"
            if results.has(key):
                continue
            print(f"quality {lib} ({args.quality_steps} steps) ...", flush=True)
            entry, images = run_quality(args, model, lib, photos)
            sheet = Path(args.out).with_name(f"{Path(args.out).stem}_{lib}.png")
            contact_sheet(images, [f"ch{c} {r:.2f}x" for c, r in zip(entry["channels"], entry["ratio"])],
                          columns=len(images)).save(sheet)
            entry["sheet"] = sheet.name
            results.put(key, entry)

    results.data["sections"]["environment"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results.save()
    print_report(results.data)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
