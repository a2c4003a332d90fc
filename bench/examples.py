"""Throughput of the dataset-examples pass against the bare forward pass (not a test).

Same process, same images, same model (the embedded EfficientNet-Lite0), same batch size:
- `forward_full`: the whole network on preloaded images (no decoding), the usual floor people quote;
- `forward_to_layer`: the network stopped at the layer (what the examples pass has to run);
- `examples_pass`: `collect_top_examples` from image files: decoding in background threads, truncated
  forward, top-k merge, a checkpoint after every batch (the worst case; the default is every 10 s);
- `examples_total`: `dataset_examples`, the whole command (pass + receptive field + crops +
  deconvnet projections + sheets), for scale.

    .venv/bin/python bench/examples.py [--images 96] [--layer blocks.4] [--batch 16] [--threads auto]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED_DATA, Results, choose_threads, environment

from deepscope.data import image_files, load_image_resized
from deepscope.examples import collect_top_examples, dataset_examples
from deepscope.models import capture, load_model


def _rate(n: int, seconds: list[float]) -> dict:
    best, median = min(seconds), statistics.median(seconds)
    return {"images_per_s_median": round(n / median, 2), "images_per_s_best": round(n / best, 2),
            "seconds": [round(s, 3) for s in seconds]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--layer", default="blocks.4")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    threads = choose_threads(args.threads)
    torch.set_num_threads(threads)
    files = image_files(SHARED_DATA / "imagenet-samples")[:: max(1, 1000 // args.images)][: args.images]
    n = len(files)
    config = {"images": n, "layer": args.layer, "batch": args.batch, "repeats": args.repeats, "threads": threads}
    results = Results(RESULTS / "examples.json", config, args.resume)
    results.data["environment"] = environment(threads)
    model = load_model()
    size = model.input_size
    preloaded = [torch.stack([load_image_resized(f, size) for f in files[i:i + args.batch]])
                 for i in range(0, n, args.batch)]

    def forward_full():
        with torch.no_grad():
            for batch in preloaded:
                model(batch)

    def forward_to_layer():
        with torch.no_grad(), capture(model, [args.layer], truncate=True, detach=True) as cap:
            for batch in preloaded:
                cap(batch)

    def examples_pass():
        with tempfile.TemporaryDirectory() as tmp:
            collect_top_examples(model, args.layer, files, k=9, batch_size=args.batch, progress=False,
                                 state_path=Path(tmp) / "state.pt", checkpoint_seconds=0)

    sections = {"forward_full": forward_full, "forward_to_layer": forward_to_layer, "examples_pass": examples_pass}
    if not all(results.has(name) for name in sections):
        # Interleaved rounds (A B C, A B C, ...): on a shared machine each variant sees the same load.
        for fn in sections.values():
            fn()  # warm-up
        seconds = {name: [] for name in sections}
        for _ in range(args.repeats):
            for name, fn in sections.items():
                start = time.perf_counter()
                fn()
                seconds[name].append(time.perf_counter() - start)
        for name in sections:
            results.put(name, _rate(n, seconds[name]))
    for name in sections:
        print(f"{name:18s} {results.get(name)['images_per_s_median']:7.2f} images/s (median of {args.repeats})")
    if not results.has("examples_total"):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            report = dataset_examples(model, args.layer, files, tmp, k=9, batch_size=args.batch, progress=False)
            seconds = time.perf_counter() - start
        results.put("examples_total", {"seconds": round(seconds, 2), "channels": len(report["channels"]),
                                       "images_per_s": round(n / seconds, 2)})
    total = results.get("examples_total")
    print(f"{'examples_total':18s} {total['images_per_s']:7.2f} images/s ({total['seconds']} s for "
          f"{total['channels']} channels, sheets included)")
    ratio = results.get("examples_pass")["images_per_s_median"] / results.get("forward_full")["images_per_s_median"]
    results.data["examples_pass_vs_forward_full"] = round(ratio, 3)
    results.save()
    print(f"examples pass / bare full forward: {ratio:.2f}x  ->  {results.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
