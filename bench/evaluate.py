"""Faithfulness metrics: deepscope against Quantus, same model, images, maps and settings.

Per metric, the time of deepscope's batched function against the Quantus metric it is checked
against in tests/test_evaluate.py, interleaved in one process (the order alternates every round);
ratio = median over rounds of Quantus's time / deepscope's time in the same round. Each round also
records the largest difference between the two results (they must agree).

Two models: the embedded EfficientNet-Lite0 on ImageNet samples (forward passes dominate), and the
small digits CNN (the metric's own work dominates). Sizes where Quantus's pixel flipping removes
whole pixels per step (3 x pixels per step divides H x W). ROAD runs on one-channel (grey) images,
the only ones Quantus's ROAD takes, with noise 0 so that both impute the same values.

Run: `.venv/bin/python bench/evaluate.py` (~10 min on a busy 2-core box); results in
bench/results/evaluate.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, SHARED_DATA, Results, choose_threads, environment

from deepscope.attribution import attribute
from deepscope.attribution.faithfulness import (
    blur,
    deletion,
    insertion,
    random_logit,
    random_logit_classes,
    road,
    sparseness,
)
from deepscope.attribution.inputs import load_images
from deepscope.models import load_model
from deepscope.models.digits import digits_images

PER_MAP = {"normalise_func_kwargs": {"normalise_axes": [1, 2, 3]}, "disable_warnings": True}
SETUPS = {  # model, size, images, deletion steps (whole pixels per Quantus step), ROAD percentages
    "efficientnet_lite0": {"size": 192, "images": 4, "steps": 48, "percentages": (10, 20, 30, 40, 50, 60, 70, 80, 90)},
    "digits_cnn": {"size": 48, "images": 8, "steps": 48, "percentages": (10, 20, 30, 40, 50, 60, 70, 80, 90)},
}


class Grey(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model.eval()

    def forward(self, images):
        return self.model(images.expand(-1, 3, -1, -1))


def _insert_original(arr, indices, source, **_):
    rows = np.arange(len(arr))[:, None]
    out = arr.copy()
    out[rows, indices] = source[rows, indices]
    return out


def inputs(name: str, setup: dict):
    """(model, images, targets, gradient maps) of a setup."""
    model = load_model(name)
    if name == "digits_cnn":
        images = digits_images(setup["size"])[0][: setup["images"]]
    else:
        folder = SHARED_DATA / "imagenet-samples"
        if not folder.is_dir():
            return None
        images = load_images(folder, setup["size"], setup["images"], spread=True, warn=lambda _m: None)[0]
    targets = model(images).argmax(1)
    maps = attribute(model, images, "gradient", targets).map("abs")
    return model, images, targets, maps


def pairs(model, images, targets, maps, setup):
    """metric -> (deepscope fn, Quantus fn), each returning comparable numbers."""
    import quantus

    x, y, a = images.numpy(), targets.numpy(), maps[:, None].numpy()
    steps, percentages = setup["steps"], setup["percentages"]
    per_step = deletion(model, images[:1], maps[:1], targets[:1], steps=steps).pixels_per_step
    classes = int(model(images[:1]).shape[1])
    grey, one = Grey(model).eval(), images[:, :1]

    def explain(model, inputs, targets, **_):
        return attribute(model, torch.as_tensor(inputs), "gradient", torch.as_tensor(targets)).map("abs")[:, None].numpy()

    def ours_random_logit():
        others = random_logit_classes(targets, classes, 42)
        return random_logit(maps, attribute(model, images, "gradient", others).map("abs"), flat=True).numpy()

    flip = {"features_in_step": 3 * per_step, **PER_MAP}
    common = {"model": model, "y_batch": y, "a_batch": a, "device": "cpu"}
    return {
        "sparseness": (lambda: sparseness(maps).numpy(),
                       lambda: np.array(quantus.Sparseness(**PER_MAP)(x_batch=x, **common))),
        "deletion": (lambda: deletion(model, images, maps, targets, steps=steps).values[:, 1:].numpy(),
                     lambda: np.array(quantus.PixelFlipping(perturb_baseline=0.0, **flip)(x_batch=x, **common))),
        "insertion": (lambda: insertion(model, images, maps, targets, steps=steps).values[:, 1:].numpy(),
                      lambda: np.array(quantus.PixelFlipping(
                          perturb_func=_insert_original, perturb_func_kwargs={"source": x.reshape(len(x), -1)},
                          **flip)(x_batch=blur(images).numpy(), **common))),
        "road": (lambda: road(grey, one, maps, targets, percentages=percentages, noise=0.0).accuracy.numpy(),
                 lambda: np.array(list(quantus.ROAD(percentages=list(percentages), noise=0.0, **PER_MAP)(
                     model=grey, x_batch=one.numpy(), y_batch=y, a_batch=a, device="cpu").values()))),
        "random-logit": (ours_random_logit,
                         lambda: np.array(quantus.RandomLogit(num_classes=classes, seed=42, **PER_MAP)(
                             x_batch=x, explain_func=explain, **common))),
    }


def floors(model, images, setup) -> dict:
    """The forward passes alone that deletion (n + 1 per image) and ROAD (one per image and percentage)
    must make, in batches of 8: the time neither implementation can go below."""
    from deepscope.attribution.faithfulness.curves import step_size

    _, steps = step_size(images.shape[-1] * images.shape[-2], setup["steps"])

    def forwards(count):
        batch = images.repeat((count + len(images) - 1) // len(images), 1, 1, 1)[:count]
        with torch.no_grad():
            for at in range(0, count, 8):
                model(batch[at:at + 8])
    return {"deletion": lambda: forwards(len(images) * (steps + 1)),
            "road": lambda: forwards(len(images) * len(setup["percentages"]))}


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(ours, theirs, rounds: int) -> dict:
    """Interleaved rounds (order alternating): times, ratio Quantus / deepscope, largest difference."""
    times = {"deepscope": [], "quantus": []}
    ratios, difference = [], 0.0
    for r in range(rounds):
        order = [("deepscope", ours), ("quantus", theirs)][:: 1 if r % 2 == 0 else -1]
        got = {name: timed(fn) for name, fn in order}
        for name, spent in times.items():
            spent.append(got[name][0])
        ratios.append(got["quantus"][0] / got["deepscope"][0])
        difference = max(difference, float(np.abs(got["deepscope"][1] - got["quantus"][1]).max()))
    return {"deepscope_s": statistics.median(times["deepscope"]), "quantus_s": statistics.median(times["quantus"]),
            "ratio_median": statistics.median(ratios), "ratios": ratios, "max_difference": difference,
            "times": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default=",".join(SETUPS))
    parser.add_argument("--metrics", default="sparseness,deletion,insertion,road,random-logit")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    threads = choose_threads(args.threads)
    torch.set_num_threads(threads)
    config = json.loads(json.dumps({"rounds": args.rounds, "setups": SETUPS}))  # as read back from the file
    results = Results(RESULTS / "evaluate.json", config, args.resume)
    results.data["environment"] = environment(threads)
    for name in args.models.split(","):
        data = inputs(name, SETUPS[name])
        if data is None:
            print(f"{name}: ../shared/data/imagenet-samples not found, skipped")
            continue
        fns = pairs(*data, SETUPS[name])
        for metric, fn in floors(data[0], data[1], SETUPS[name]).items():
            if not results.has(f"{name}/floor-{metric}"):
                results.put(f"{name}/floor-{metric}", statistics.median(timed(fn)[0] for _ in range(args.rounds)))
            print(f"{name}/{metric}: forward passes alone {results.get(f'{name}/floor-{metric}'):.3f} s", flush=True)
        for metric in args.metrics.split(","):
            section = f"{name}/{metric}"
            if not results.has(section):
                results.put(section, measure(*fns[metric], args.rounds))
            row = results.get(section)
            print(f"{section:<32} deepscope {row['deepscope_s']:8.3f} s  quantus {row['quantus_s']:8.3f} s  "
                  f"ratio {row['ratio_median']:6.1f}x  max difference {row['max_difference']:.1e}", flush=True)
    results.save()


if __name__ == "__main__":
    main()
