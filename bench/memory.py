"""Benchmark: the hot paths with `deepscope.memory.tune()` against the allocator's defaults (not a test).

Each measurement is a fresh process (the settings apply at start-up): tuned (what the command line
does) or untuned (`DEEPSCOPE_TUNE_MEMORY=0`), 1 torch thread, the embedded EfficientNet-Lite0.
The two alternate round by round; medians of wall seconds, CPU seconds and minor page faults of the
timed part (after a warm-up) are reported, with untuned / tuned ratios.

- `collect`: atlas collection of 64 ImageNet samples at blocks.5, 4 positions, with attribution
- `examples`: a top-9 dataset-examples pass over 128 ImageNet samples at blocks.5
- `render`: 32 steps of 4 channel renders at 128 px (blocks.4)

    nice python bench/memory.py --rounds 3
Writes bench/results/memory.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deepscope import memory

TUNED = memory.tune()  # first of all, before torch loads; a no-op in the untuned processes (DEEPSCOPE_TUNE_MEMORY=0)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED_DATA, Results, environment, proc_stat

WORKLOADS = ("collect", "examples", "render")


def faults() -> int:
    """Minor page faults of this process so far (Linux /proc)."""
    return int(proc_stat()[7])


def measure(workload: str, folder: str) -> dict:
    """Run `workload` once to warm up and once timed, in this process."""
    import torch

    from deepscope.models import load_model

    torch.set_num_threads(1)
    model = load_model("efficientnet_lite0")
    files = sorted(Path(folder).iterdir())

    def run(warm: bool) -> None:
        if workload == "collect":
            from deepscope.atlas.collection import collect

            with tempfile.TemporaryDirectory() as tmp:
                collect(model, "blocks.5", folder, Path(tmp) / "store", positions=4, attribution=True,
                        batch_size=16, workers=1, limit=16 if warm else 64, progress=False)
        elif workload == "examples":
            from deepscope.examples.collect import collect_top_examples

            collect_top_examples(model, "blocks.5", files[:32 if warm else 128], k=9, workers=1, progress=False)
        else:
            from deepscope.render import channel, render

            render(model, [channel("blocks.4", c) for c in range(4)], size=128, steps=4 if warm else 32,
                   progress=False)

    run(True)
    before, cpu, start = faults(), time.process_time(), time.perf_counter()
    run(False)
    return {"seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "faults": faults() - before, "tuned": TUNED}


def in_fresh_process(workload: str, tuned: bool, folder: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (memory.HUGE_PAGES, memory.OFF)}
    if not tuned:
        env[memory.OFF] = "0"
    out = subprocess.run([sys.executable, __file__, "--measure", workload, "--folder", folder], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=str(SHARED_DATA / "imagenet-samples"))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "memory.json"))
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder)))
        return
    config = {"workloads": args.workloads, "rounds": args.rounds}
    results = Results(Path(args.out), config, resume=args.resume)
    results.data["environment"] = environment(1)
    for workload in args.workloads.split(","):
        if results.has(workload):
            continue
        runs: dict[str, list[dict]] = {"untuned": [], "tuned": []}
        for r in range(args.rounds):
            for name in (("untuned", "tuned") if r % 2 == 0 else ("tuned", "untuned")):
                runs[name].append(in_fresh_process(workload, name == "tuned", args.folder))
                print(f"{workload} round {r} {name}: {runs[name][-1]}", flush=True)
        median = {name: {key: statistics.median(run[key] for run in rs) for key in ("seconds", "cpu_s", "faults")}
                  for name, rs in runs.items()}
        results.put(workload, {
            "median": {n: {k: round(v, 3) for k, v in m.items()} for n, m in median.items()},
            "seconds": {n: [round(run["seconds"], 3) for run in rs] for n, rs in runs.items()},
            "untuned_over_tuned": round(median["untuned"]["seconds"] / median["tuned"]["seconds"], 3),
            "applied": runs["tuned"][0]["tuned"],
        })
        print(workload, results.get(workload)["median"], "ratio", results.get(workload)["untuned_over_tuned"])
    results.data["environment"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results.save()


if __name__ == "__main__":
    main()
