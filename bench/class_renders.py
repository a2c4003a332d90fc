"""Class-render check: are class-logit visualizations of the embedded model recognized as their class
by the model itself and by a second model it was not made on (EfficientNet-Lite1)?

Renders one image per class with deepscope (class_logit objective, `transforms="strong"`) and,
optionally, with Lucent (its defaults, the same size and steps, the model's own normalization);
each image is resized to each judge's own input size (224 px for Lite0, 240 px for Lite1) and
classified; reports top-1 / top-5 shares. Results: bench/results/class_renders.json (resumable).

Run: `.venv/bin/python bench/class_renders.py` (see bench/README.md).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, Results, choose_threads, environment
from peers import normalizer, removing_new_hooks, seed_everything

from deepscope.models import VisionModel, load_model
from deepscope.render import class_logit, render
from deepscope.viz.sheet import contact_sheet

DEFAULT_CLASSES = ",".join(str(i) for i in range(0, 1000, 100))  # evenly spaced: no cherry-picking


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--classes", default=DEFAULT_CLASSES, help="class indices or names, comma-separated")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--libs", default="deepscope,lucent", help="deepscope and/or lucent")
    p.add_argument("--judge", default="efficientnet_lite1", help="the second model")
    p.add_argument("--threads", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "class_renders.json"))
    p.add_argument("--resume", action="store_true")
    return p.parse_args(argv)


def deepscope_classes(model: VisionModel, classes: list[int], size: int, steps: int, seed: int) -> torch.Tensor:
    objectives = [class_logit(i, model.classes[i]) for i in classes]
    return render(model, objectives, size=size, steps=steps, transforms="strong", seed=seed).images


def lucent_classes(model: VisionModel, classes: list[int], size: int, steps: int, seed: int) -> torch.Tensor:
    """Lucent's render_vis with defaults (fft image, standard transforms, Adam 0.05), the logits
    layer `classifier` as `channel(..., batch=i)` objectives, the model's own normalization."""
    from lucent.optvis import objectives, param, transform
    from lucent.optvis import render as lrender

    seed_everything(seed)
    objective = objectives.Objective.sum(
        [objectives.channel("classifier", c, batch=i) for i, c in enumerate(classes)])
    with removing_new_hooks(model.net):
        images = lrender.render_vis(
            model.net, objective, param_f=lambda: param.image(size, batch=len(classes)),
            transforms=transform.standard_transforms + [normalizer(model)], thresholds=(steps,),
            preprocess=False, progress=True, show_image=False)
    return torch.from_numpy(images[-1]).permute(0, 3, 1, 2).contiguous()


RENDERERS = {"deepscope": deepscope_classes, "lucent": lucent_classes}


@torch.no_grad()
def top5(judge: VisionModel, images: torch.Tensor) -> torch.Tensor:
    """(N, 5) class indices, images resized to the judge's own input size."""
    size = judge.input_size
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).clamp(0, 1)
    return judge(images).topk(5, dim=1).indices


def judge_renders(judges: dict[str, VisionModel], classes: list[int], images: torch.Tensor) -> dict:
    out = {}
    for name, judge in judges.items():
        preds = top5(judge, images)
        hits1 = [bool(p[0] == c) for p, c in zip(preds, classes)]
        hits5 = [bool((p == c).any()) for p, c in zip(preds, classes)]
        out[name] = {
            "input_px": judge.input_size, "top1": sum(hits1) / len(classes), "top5": sum(hits5) / len(classes),
            "top1_hits": sum(hits1), "top5_hits": sum(hits5),
            "predicted": [judge.classes[int(p[0])] for p in preds],
        }
    return out


def print_report(data: dict) -> None:
    env = data["sections"].get("environment", {})
    cfg = data["config"]
    print(f"\n== class renders: {cfg['size']} px, {cfg['steps']} steps, {env.get('threads')} thread(s) ==")
    for key, entry in data["sections"].items():
        if not key.startswith("render."):
            continue
        print(f"\n{key[7:]} ({entry['wall_s']:.0f} s):")
        for judge, r in entry["judges"].items():
            print(f"  judged by {judge:20s} top-1 {r['top1_hits']}/{len(entry['classes'])}  "
                  f"top-5 {r['top5_hits']}/{len(entry['classes'])}")
        names = entry["class_names"]
        for i, name in enumerate(names):
            preds = " | ".join(r["predicted"][i] for r in entry["judges"].values())
            print(f"    {name:24s} -> {preds}")


def main(argv=None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    threads = choose_threads(args.threads)
    torch.set_num_threads(threads)
    model = load_model("efficientnet_lite0")
    classes = [model.class_index(c.strip()) for c in args.classes.split(",") if c.strip()]
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    if any(lib not in RENDERERS for lib in libs):
        sys.exit(f"unknown --libs {libs}; choose from {', '.join(RENDERERS)}")
    config = {"classes": classes, "size": args.size, "steps": args.steps, "seed": args.seed,
              "judge": args.judge, "threads": threads}
    results = Results(Path(args.out), config, args.resume)
    if not results.has("environment"):
        results.put("environment", environment(threads))
    judges = {"efficientnet_lite0 (made on)": model, args.judge: load_model(args.judge)}
    for lib in libs:
        key = f"render.{lib}"
        if results.has(key):
            continue
        print(f"{lib}: rendering {len(classes)} classes ...", flush=True)
        start = time.perf_counter()
        images = RENDERERS[lib](model, classes, args.size, args.steps, args.seed)
        wall = time.perf_counter() - start
        verdicts = judge_renders(judges, classes, images)
        sheet = Path(args.out).with_name(f"class_renders_{lib}.png")
        first = next(iter(verdicts.values()))["predicted"]
        contact_sheet(images, [f"{model.classes[c]} -> {p}" for c, p in zip(classes, first)],
                      columns=5, tile=160).save(sheet)
        results.put(key, {"classes": classes, "class_names": [model.classes[c] for c in classes],
                          "wall_s": wall, "judges": verdicts, "sheet": sheet.name,
                          "settings": ("class_logit, transforms=strong, fft param, defaults otherwise"
                                       if lib == "deepscope" else
                                       "render_vis defaults, channel('classifier', i, batch=k) summed")})
    print_report(results.data)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
