"""Benchmark: atlas collection in one process against the Ray engine with 1 and 2 workers (not a test).

The same images, layer and settings for all three: a single process with 1 torch thread, Ray with
1 worker (1 thread) and Ray with 2 workers (1 thread each). Rounds are interleaved (the order turns
each round) and the medians reported; every run writes a fresh store, and the stores are checked
byte for byte against the single-process one. Ray's start-up (ray.init and the workers loading the
model) is timed apart and left out of the per-image figures. The CPU seconds of the processes doing
the work (the process itself, or the Ray workers) are read from /proc: CPU ms per image and the
cores a configuration got (CPU seconds / wall seconds) say how much of a slowdown is the machine's.
Every process runs with `deepscope.memory.tune()`, as the command line does
(`DEEPSCOPE_TUNE_MEMORY=0 python bench/scale.py` runs them all with the allocator's defaults).

    nice python bench/scale.py                        # 256 ImageNet samples, Lite0 blocks.5, 3 rounds
    nice python bench/scale.py --images 128 --rounds 5
Writes bench/results/scale.json.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deepscope import memory

TUNED = memory.tune()  # what the command line does, in the driver; the Ray workers tune themselves

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED_DATA, Results, environment, proc_stat

from deepscope.atlas.collection import collect
from deepscope.distributed import RayEngine, require_ray
from deepscope.models import load_model

CONFIGS = ("single", "ray1", "ray2")


def store_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes `pids` have used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = proc_stat(pid)
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def timed_collect(model, args, folder: Path, engine) -> tuple[float, float, dict[str, bytes]]:
    """Wall seconds and CPU seconds (of the processes doing the work) of one collection into a fresh
    store, and the store's files."""
    store = folder / "store"
    shutil.rmtree(store, ignore_errors=True)
    pids = [os.getpid()] if engine is None else require_ray().get([a.ready.remote() for a in engine.actors])
    cpu, start = cpu_seconds(pids), time.perf_counter()
    collect(model, args.layer, args.folder, store, positions=args.positions, attribution=True, batch_size=16,
            shard_size=args.shard_size, workers=1, limit=args.images, progress=False, engine=engine)
    seconds = time.perf_counter() - start
    return seconds, cpu_seconds(pids) - cpu, store_bytes(store)


def start_engines(model, threads: int) -> tuple[dict, dict]:
    """A local Ray (3 CPUs: the 1-worker and the 2-worker engines live side by side, idle ones use no
    CPU) and the two engines, started; with their start-up times."""
    ray = require_ray()
    began = time.perf_counter()
    ray.init(num_cpus=3 * threads, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level="warning")
    startup = {"ray_init_s": round(time.perf_counter() - began, 2)}
    engines = {}
    for name, workers in (("ray1", 1), ("ray2", 2)):
        engines[name] = RayEngine(model, workers=workers, threads=threads).start()
        startup[f"{name}_workers_ready_s"] = round(engines[name].startup_s, 2)
    return engines, startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=str(SHARED_DATA / "imagenet-samples"))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--layer", default="blocks.5")
    parser.add_argument("--positions", type=int, default=4)
    parser.add_argument("--shard-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "scale.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model("efficientnet_lite0")
    config = {k: v for k, v in vars(args).items() if k not in ("out", "folder")}
    results = Results(Path(args.out), config, resume=False)
    results.data["environment"] = {**environment(1), "memory_tuned": TUNED}
    engines, startup = start_engines(model, threads=1)
    engines["single"] = None
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    identical = True
    with tempfile.TemporaryDirectory() as tmp:
        reference = None
        for r in range(args.rounds + 1):  # round 0 warms every worker up and is not counted
            order = CONFIGS[r % 3:] + CONFIGS[:r % 3]
            for name in order:
                seconds, used, files = timed_collect(model, args, Path(tmp), engines[name])
                reference = reference or files
                identical &= files == reference
                if r:
                    times[name].append(seconds)
                    cpu[name].append(used)
                print(f"round {r} {name}: {seconds:.2f} s, {used:.1f} CPU s (load {os.getloadavg()[0]:.2f})",
                      flush=True)
    for name in ("ray1", "ray2"):
        engines[name].__exit__(None, None, None)
    require_ray().shutdown()
    median = {name: statistics.median(t) for name, t in times.items()}
    results.data["environment"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results.put("collection", {
        "startup": startup, "seconds": {n: [round(t, 3) for t in ts] for n, ts in times.items()},
        "median_s": {n: round(t, 3) for n, t in median.items()},
        "images_per_s": {n: round(args.images / t, 2) for n, t in median.items()},
        "ms_per_image_per_worker": {n: round(1000 * t * w / args.images, 1)
                                    for (n, t), w in zip(median.items(), (1, 1, 2))},
        "cpu_ms_per_image": {n: round(1000 * statistics.median(c) / args.images, 1) for n, c in cpu.items()},
        "cores_used": {n: round(statistics.median(c) / median[n], 2) for n, c in cpu.items()},
        "ray1_over_single": round(median["single"] / median["ray1"], 3),
        "ray2_over_ray1": round(median["ray1"] / median["ray2"], 3),
        "stores_identical": bool(identical),
    })
    print(results.get("collection"))


if __name__ == "__main__":
    main()
