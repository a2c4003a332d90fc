"""Saliency speed: deepscope's wrapper vs calling captum directly, and Grad-CAM vs pytorch-grad-cam.

Per method, time per image of `deepscope.attribution.attribute(model, x, method, targets)` against
the same captum call written by hand (same model, inputs, targets and options), measured
interleaved in one process; ratio = wrapper / direct (target: <= 1.10). Grad-CAM is also timed
against pytorch-grad-cam's `GradCAM` (`pip install grad-cam`, not a dependency of deepscope).

Guided backprop and deconvnet: captum's own GuidedBackprop/Deconvolution hook only `nn.ReLU`, so on
the embedded model (ReLU6) they return the plain gradient. Two references are timed: captum's class
as a user would call it (wrong result here, same amount of work), and captum's Saliency inside
`override_rectifiers` (the correct result; what the wrapper runs). The ratio against the former also
shows what making every rectifier take the rule costs.

Run: `.venv/bin/python bench/saliency.py` (~5-10 min on a busy 2-core box); results in
bench/results/saliency.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, SHARED_DATA, Results, choose_threads, environment

from deepscope.attribution import attribute, last_conv_layer
from deepscope.data import image_files, load_image_resized
from deepscope.models import load_model
from deepscope.models.rectifiers import override_rectifiers

OPTIONS = {"samples": 8, "noise": 0.15, "steps": 8, "window": 56, "stride": 56}


def direct_calls(model, layer_module, opts):
    """method -> {reference name: fn(x, targets)} calling captum (or pytorch-grad-cam) by hand."""
    def saliency(x, t):
        return Saliency(model).attribute(x, target=t, abs=False)

    def under(rule):
        def call(x, t):
            with override_rectifiers(rule):
                return Saliency(model).attribute(x, target=t, abs=False)
        return call

    def grad_cam(x, t):
        cam = LayerGradCam(model, layer_module).attribute(x, target=t, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")

    def guided_grad_cam_exact(x, t):
        return under("guided")(x, t) * grad_cam(x, t)

    def smoothgrad(x, t):
        torch.manual_seed(0)
        return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=opts["samples"],
                                                      nt_samples_batch_size=8, stdevs=opts["noise"], target=t,
                                                      abs=False)

    calls = {
        "gradient": {"captum": saliency},
        "gradient-x-input": {"captum": lambda x, t: InputXGradient(model).attribute(x, target=t)},
        "smoothgrad": {"captum": smoothgrad},
        "integrated-gradients": {"captum": lambda x, t: IntegratedGradients(model).attribute(
            x, baselines=0.0, target=t, n_steps=opts["steps"], internal_batch_size=8 * x.shape[0])},
        "guided-backprop": {"captum": lambda x, t: GuidedBackprop(model).attribute(x, target=t),
                            "captum_saliency_under_override": under("guided")},
        "deconvnet": {"captum": lambda x, t: Deconvolution(model).attribute(x, target=t),
                      "captum_saliency_under_override": under("deconvnet")},
        "grad-cam": {"captum": grad_cam},
        "guided-grad-cam": {"captum": lambda x, t: GuidedGradCam(model, layer_module).attribute(x, target=t),
                            "captum_same_rule": guided_grad_cam_exact},
        "occlusion": {"captum": lambda x, t: Occlusion(model).attribute(
            x, sliding_window_shapes=(3, opts["window"], opts["window"]),
            strides=(3, opts["stride"], opts["stride"]), baselines=0.5, target=t, perturbations_per_eval=16)},
    }
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        def pytorch_grad_cam(x, t):
            # pytorch-grad-cam calls loss.backward(): it needs a gradient path into the network. With the
            # weights frozen, that is the input (x requires grad here); with trainable weights it would
            # also compute every weight's gradient, which is slower still.
            with GradCAM(model=model, target_layers=[layer_module]) as cam:
                return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(i)) for i in t])

        calls["grad-cam"]["pytorch_grad_cam"] = pytorch_grad_cam
    except ImportError:
        print("pytorch-grad-cam not installed (pip install grad-cam): skipping that comparison")
    return calls


def fixed_overhead(model, rounds: int) -> dict:
    """What the wrapper adds per call regardless of image size: both sides on one 32 px image, many
    interleaved rounds; median(deepscope) - median(captum) in ms. Robust to a busy machine, unlike
    ratios at 224 px where the noise of the load is larger than the overhead."""
    x = torch.rand(1, 3, 32, 32)
    target = torch.tensor([1])
    layer_module = model.module(last_conv_layer(model))
    out = {}
    for method in ("gradient", "grad-cam"):
        direct = direct_calls(model, layer_module, OPTIONS)[method]["captum"]
        entries = {"deepscope": lambda m=method: attribute(model, x, m, target),
                   "captum": lambda d=direct: d(x.clone().requires_grad_(True), target)}
        times = {n: [] for n in entries}
        for fn in entries.values():
            fn()
        for round_ in range(rounds):
            order = list(entries.items()) if round_ % 2 == 0 else list(entries.items())[::-1]
            for name, fn in order:
                times[name].append(timed(fn))
        med = {n: statistics.median(v) * 1000 for n, v in times.items()}
        out[method] = {"deepscope_ms": med["deepscope"], "captum_ms": med["captum"],
                       "overhead_ms": med["deepscope"] - med["captum"]}
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="all")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=4, help="images per call")
    p.add_argument("--repeats", type=int, default=6, help="timed rounds per method (after one warm-up)")
    p.add_argument("--overhead-rounds", type=int, default=40,
                   help="rounds of the fixed-overhead measurement (32 px, one image)")
    p.add_argument("--threads", default="auto")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--out", default=str(RESULTS / "saliency.json"))
    args = p.parse_args(argv)

    threads = choose_threads(args.threads)
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", message="Setting backward hooks")
    model = load_model()
    for param in model.parameters():  # both sides get the same frozen model
        param.requires_grad_(False)
    files = image_files(SHARED_DATA / "imagenet-samples")[::250][:args.batch]
    x = torch.stack([load_image_resized(f, args.size) for f in files])
    with torch.no_grad():
        targets = model(x).argmax(1)
    layer = last_conv_layer(model)
    calls = direct_calls(model, model.module(layer), OPTIONS)
    methods = list(calls) if args.methods == "all" else args.methods.split(",")
    config = {"size": args.size, "batch": args.batch, "repeats": args.repeats, "options": OPTIONS,
              "model": model.name, "cam_layer": layer, "images": [f.name for f in files]}
    results = Results(Path(args.out), config, args.resume)
    results.data["environment"] = environment(threads)

    for method in methods:
        if results.has(method):
            continue
        entries = {"deepscope": lambda m=method: attribute(model, x, m, targets, **OPTIONS)}
        entries.update({name: (lambda fn=fn: fn(x.clone().requires_grad_(True), targets))
                        for name, fn in calls[method].items()})
        times = {name: [] for name in entries}
        for name, fn in entries.items():  # warm-up (first-call costs, caches)
            fn()
        for round_ in range(args.repeats):  # interleaved, order reversed every other round (no position bias)
            order = list(entries.items()) if round_ % 2 == 0 else list(entries.items())[::-1]
            for name, fn in order:
                times[name].append(timed(fn) / args.batch)
        med = {name: statistics.median(v) for name, v in times.items()}
        paired = {n: statistics.median(a / b for a, b in zip(times["deepscope"], times[n]))
                  for n in med if n != "deepscope"}
        section = {"seconds_per_image": med, "all_seconds_per_image": times,
                   "ratio_deepscope_over": paired,
                   "ratio_of_medians": {n: med["deepscope"] / med[n] for n in med if n != "deepscope"}}
        results.put(method, section)
        ratios = ", ".join(f"{n} {r:.3f}" for n, r in section["ratio_deepscope_over"].items())
        print(f"{method:22s} deepscope {med['deepscope'] * 1000:8.1f} ms/img   wrapper / reference: {ratios}",
              flush=True)
    if not results.has("fixed_overhead"):
        results.put("fixed_overhead", fixed_overhead(model, args.overhead_rounds))
    fixed = results.get("fixed_overhead")
    print("fixed cost of the wrapper per call (32 px, 1 image, where captum's own work is smallest): "
          + ", ".join(f"{m} {v['overhead_ms']:+.2f} ms ({v['deepscope_ms']:.1f} vs {v['captum_ms']:.1f} ms)"
                      for m, v in fixed.items()))
    results.save()
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
