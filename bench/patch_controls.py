"""Experiment (not a test): is the atlas-restricted class direction's patch power due to the atlas?

For one class pair, renders logit(B) − logit(A) with the gradient at the store's layer restricted to
the span of k directions, for k in --spans and three choices of directions: the two-class
comparison's k cells that support B most (what `deepscope patch` uses), the k cells that support A
most, and a random k-d subspace; plus the unrestricted render. Each patch and a same-size noise patch
are pasted at 0.2/0.4/0.7 in every corner of --screen images (universal mode) and flips to B counted.

    python bench/patch_controls.py --store STORE --from "Welsh springer spaniel" --to "Brittany spaniel"
Writes bench/results/patch_controls.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, SHARED_DATA, environment

from deepscope.atlas import compare_classes, open_store
from deepscope.models import load_model
from deepscope.probes.flips import flip_hits
from deepscope.probes.image_set import load_image_set, predict
from deepscope.probes.paste import NoisePatch, placements
from deepscope.render import class_logit, render
from deepscope.render.subspace import restrict_gradient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="activation store with attribution")
    parser.add_argument("--from", dest="a", required=True)
    parser.add_argument("--to", dest="b", required=True)
    parser.add_argument("--images", default=str(SHARED_DATA / "imagenet-samples"))
    parser.add_argument("--spans", default="10,20,40")
    parser.add_argument("--screen", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "patch_controls.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("efficientnet_lite0")
    store = open_store(args.store)
    a, b = model.class_index(args.a), model.class_index(args.b)
    images = load_image_set(args.images, model, progress=False)
    top1 = predict(model, images, progress=False).argmax(1)
    rows = [i for i in range(len(images)) if top1[i] != b]
    rows = rows[::max(1, len(rows) // args.screen)][:args.screen]
    comparison = compare_classes(model, store, a, b, icons=None, fidelity=False, progress=False)
    cells = comparison.cells()

    def directions(which: str, k: int) -> torch.Tensor:
        sign = 1.0 if which == "b" else -1.0
        chosen = sorted(cells, key=lambda c: -sign * c.x)[:k]
        return torch.stack([torch.as_tensor(c.direction, dtype=torch.float32) for c in chosen])

    generator = torch.Generator().manual_seed(0)
    variants = {"unrestricted": None}
    for k in (int(v) for v in args.spans.split(",")):
        variants[f"b_side_{k}"] = directions("b", k)
        variants[f"a_side_{k}"] = directions("a", k)
        variants[f"random_{k}"] = torch.randn(k, store.acts.shape[1], generator=generator)
    places, results = placements(), {}
    for name, basis in list(variants.items()) + [("noise", "noise")]:
        start = time.perf_counter()
        if isinstance(basis, str):
            patch = NoisePatch(0)
        elif basis is None:
            patch = render(model, class_logit(b) - class_logit(a), steps=256, transforms="strong",
                           progress=False).images[0]
        else:
            with restrict_gradient(model, store.layer, basis):
                patch = render(model, class_logit(b) - class_logit(a), steps=256, transforms="strong",
                               progress=False).images[0]
        flips = flip_hits(model, images, rows, patch, b, places, progress=False)
        results[name] = {"best_rate": flips.best_rate, "fixed": list(flips.fixed),
                         "seconds": time.perf_counter() - start}
        print(f"{name:16s} best {flips.best_rate:.3f} fixed {flips.fixed}", file=sys.stderr)
    report = {"environment": environment(args.threads), "pair": [model.classes[a], model.classes[b]],
              "store": {"layer": store.layer, "activations": len(store)}, "screen_images": len(rows),
              "results": results}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
