"""Benchmark: deepscope's atlas pipeline against dreamlens's `activation_atlas` (not a test).

Same activations (collected once by deepscope), same layer, same grid, same icon size, steps and
attempts for both; the times of each stage and their ratios come from one run. dreamlens's stages
are timed by wrapping its own `aligned_umap`/`render_icons`. Both icon sets are scored with the
same fidelity figures (centre cosine, share of cells beating their best real activation).
Collection throughput is measured against the bare forward pass over the same, pre-decoded images,
once over all images and as medians of interleaved rounds (bare forward, collection from decoded
images, collection from files with 1 and 2 decoding threads) on --collect-images images.

    python bench/atlas.py                   # modest: 500 images x 4 positions = 2000 activations
    python bench/atlas.py --images 1000 --positions 10 --grid 10 --steps 128   # the issue's 10k activations
Writes bench/results/atlas.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deepscope.atlas import Grid, IconSettings, bin_layout, collect, layout, render_icons
from deepscope.atlas.quality import icon_fidelity
from deepscope.data.sources import folder_source
from deepscope.models import load_model
from deepscope.models.capture import activations

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "data" / "imagenet-samples"


def bare_forward(model, images: torch.Tensor, batch: int, layer: str | None) -> float:
    """Images per second of the model alone (to `layer`, or to the logits) on decoded images."""
    with torch.no_grad():
        model(images[:2])
        start = time.perf_counter()
        for i in range(0, len(images), batch):
            if layer:
                activations(model, images[i:i + batch], [layer])
            else:
                model(images[i:i + batch])
    return len(images) / (time.perf_counter() - start)


def collection_throughput(model, folder: Path, layer: str, count: int, batch: int, attribution: bool,
                          positions: int, store: Path):
    source = folder_source(folder, model.input_size)
    if count > len(source.ids):
        raise SystemExit(f"--images {count}: the folder has {len(source.ids)} images; raise --positions instead")
    files = list(range(count))
    images = torch.stack([source.load(i) for i in files])
    bare = bare_forward(model, images, batch, None if attribution else layer)
    start = time.perf_counter()
    data = collect(model, layer, folder, store, positions=positions, attribution=attribution, batch_size=batch,
                   limit=count, progress=False)
    rate = count / (time.perf_counter() - start)
    return data, {"images": count, "positions": positions, "attribution": attribution, "batch": batch,
                  "collect_images_per_s": rate, "bare_forward_images_per_s": bare,
                  "bare_forward": "to the logits" if attribution else f"to {layer}", "ratio": rate / bare}


def interleaved_collection(model, folder: Path, layer: str, count: int, positions: int, repeats: int,
                           batch: int = 16) -> dict:
    """Median images/s over `repeats` interleaved rounds of: the bare forward to `layer` on decoded
    images; collection from the same images already decoded (the pipeline's own overhead); and
    collection from the files with 1 and 2 decoding threads (decoding overlapped with the model)."""
    import statistics

    from deepscope.data.sources import ImageSource

    source = folder_source(folder, model.input_size)
    images = torch.stack([source.load(i) for i in range(count)])
    decoded = ImageSource(source.ids[:count], lambda i: images[i], "decoded in memory")

    def collected(images_from, workers: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            collect(model, layer, images_from, Path(tmp) / "store", positions=positions, batch_size=batch,
                    limit=count, workers=workers, progress=False)
            return count / (time.perf_counter() - start)

    runs = {"bare_forward": lambda: bare_forward(model, images, batch, layer),
            "collect_decoded": lambda: collected(decoded, 0),
            "collect_files_1_decoder": lambda: collected(folder, 1),
            "collect_files_2_decoders": lambda: collected(folder, 2)}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            rates[name].append(run())
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {"images": count, "positions": positions, "repeats": repeats, "images_per_s": medians,
            "ratio_to_bare_forward": {name: v / medians["bare_forward"] for name, v in medians.items()}}


def dreamlens_atlas(model, layer: str, acts: np.ndarray, grid: int, size: int, steps: int, threshold: int):
    """dreamlens's activation_atlas with its stages timed and its icons kept."""
    import dreamlens.atlas as dl

    timings, kept = {}, {}
    umap_fn, icons_fn, bin_fn = dl.aligned_umap, dl.render_icons, dl.bin_laid_out_activations

    def timed_umap(*args, **kwargs):
        start = time.perf_counter()
        out = umap_fn(*args, **kwargs)
        timings["layout"] = time.perf_counter() - start
        kept["layout"] = out
        return out

    def timed_icons(*args, **kwargs):
        start = time.perf_counter()
        icons, extra = icons_fn(*args, **kwargs)
        timings["icons"] = timings.get("icons", 0.0) + time.perf_counter() - start
        kept.setdefault("icons", []).extend(icons)
        return icons, extra

    def kept_bins(*args, **kwargs):
        out = bin_fn(*args, **kwargs)
        kept["directions"], kept["coordinates"] = np.stack(out[0]), np.stack(out[1])
        return out

    mean, std = model.mean.clone(), model.std.clone()
    dl.aligned_umap, dl.render_icons, dl.bin_laid_out_activations = timed_umap, timed_icons, kept_bins
    try:
        start = time.perf_counter()
        canvas = dl.activation_atlas(model.net, layer, acts, grid_size=grid, icon_size=size, threshold=threshold,
                                     render_kwargs={"n_steps": steps, "num_attempts": 1,
                                                    "preprocess": lambda x: (x - mean) / std})
        timings["total"] = time.perf_counter() - start
    finally:
        dl.aligned_umap, dl.render_icons, dl.bin_laid_out_activations = umap_fn, icons_fn, bin_fn
    icons = torch.from_numpy(np.stack(kept["icons"])).permute(0, 3, 1, 2).float()
    return timings, kept, icons, canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--positions", type=int, default=4)
    parser.add_argument("--layer", default="blocks.4")
    parser.add_argument("--grid", type=int, default=10)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--dreamlens-steps", type=int, default=None,
                        help="dreamlens's icon steps (default: --steps); compares at matched fidelity")
    parser.add_argument("--size", type=int, default=80)
    parser.add_argument("--attribution-images", type=int, default=160)
    parser.add_argument("--collect-images", type=int, default=320, help="images per interleaved collection round")
    parser.add_argument("--collect-repeats", type=int, default=3, help="interleaved collection rounds (medians)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best time per stage")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "atlas.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import dreamlens
    import umap

    model = load_model("efficientnet_lite0")
    report = {"machine": {"cpu_threads": args.threads, "python": platform.python_version(), "torch": torch.__version__,
                          "umap": umap.__version__, "dreamlens": getattr(dreamlens, "__version__", "?")},
              "settings": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        data, report["collect"] = collection_throughput(model, SAMPLES, args.layer, args.images, 16, False,
                                                        args.positions, Path(tmp) / "acts")
        _, report["collect_with_attribution"] = collection_throughput(
            model, SAMPLES, args.layer, args.attribution_images, 16, True, 1, Path(tmp) / "attr")
        report["collect_interleaved"] = interleaved_collection(model, SAMPLES, args.layer, args.collect_images,
                                                               args.positions, args.collect_repeats)
    acts = data.acts
    print(f"collected {acts.shape}; {json.dumps(report['collect'])}", file=sys.stderr)
    print(f"collection, interleaved medians: {json.dumps(report['collect_interleaved'])}", file=sys.stderr)
    # numba compilation, paid once per process, outside both timings; UMAP switches from exact
    # neighbours to NN-descent (compiled separately) at 4096 points, so warm up on more than that
    layout(acts[:min(len(acts), 5000)], "umap")

    threshold = 5  # dreamlens keeps cells with count > threshold; deepscope with count >= threshold
    settings = IconSettings(size=args.size, steps=args.steps, attempts=1)
    ours, theirs = {}, {}
    for _ in range(args.repeats):  # interleaved, best time per stage: the machine is shared
        times = {}
        start = time.perf_counter()
        coords = layout(acts, "umap")
        times["layout"] = time.perf_counter() - start
        t = time.perf_counter()
        grid = bin_layout(coords, acts, args.grid, threshold + 1)
        times["grid"] = time.perf_counter() - t
        t = time.perf_counter()
        icons, _ = render_icons(model, args.layer, grid.directions, settings, progress=False)
        times["icons"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - start
        ours = {k: min(v, ours.get(k, v)) for k, v in times.items()}
        their_times, kept, their_icons, _ = dreamlens_atlas(model, args.layer, acts, args.grid, args.size,
                                                            args.dreamlens_steps or args.steps, threshold)
        theirs = {k: min(v, theirs.get(k, v)) for k, v in their_times.items()}
    ours_fid = icon_fidelity(model, args.layer, grid, acts, icons, settings)["summary"]
    print(f"deepscope: {ours} {ours_fid}", file=sys.stderr)

    # the same cells, in dreamlens's order (its icons follow its coordinates)
    binned = bin_layout(kept["layout"], acts, args.grid, threshold + 1)
    where = {tuple(c): i for i, c in enumerate(binned.cells.tolist())}
    order = [where[tuple(c)] for c in kept["coordinates"].tolist()]
    their_grid = Grid(args.grid, threshold + 1, binned.cells[order], binned.counts[order], binned.directions[order],
                      [binned.members[i] for i in order], binned.dropped)
    theirs_fid = icon_fidelity(model, args.layer, their_grid, acts, their_icons, settings)["summary"]
    print(f"dreamlens: {theirs} {theirs_fid}", file=sys.stderr)

    report["activations"] = list(acts.shape)
    report["deepscope"] = {"seconds": ours, "cells": len(grid), "icons_per_s": len(grid) / ours["icons"],
                           "fidelity": ours_fid}
    report["dreamlens"] = {"seconds": theirs, "cells": len(kept["coordinates"]),
                           "icons_per_s": len(kept["coordinates"]) / theirs["icons"], "fidelity": theirs_fid,
                           "fidelity_note": "scored with deepscope's icon objective (p=4) and the same cells"}
    report["speedup_dreamlens_over_deepscope"] = {k: theirs[k] / ours[k] for k in ("layout", "icons", "total")}
    report["icons_per_s_ratio"] = report["deepscope"]["icons_per_s"] / report["dreamlens"]["icons_per_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("collect", "collect_interleaved", "collect_with_attribution",
                                             "speedup_dreamlens_over_deepscope", "icons_per_s_ratio")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
