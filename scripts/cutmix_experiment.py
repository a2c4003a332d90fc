"""How CutMix changes EfficientNet-Lite0: fine-tune with and without it, then diff and probe each.

    python scripts/cutmix_experiment.py --data ../shared/data --out /tmp/cutmix

1. `scripts/finetune_cutmix.py`: the last stages fine-tuned plainly and with CutMix (OUT/plain.pt,
   OUT/cutmix.pt).
2. `deepscope diff` of each against the embedded weights at `--layer` (blocks.5, the first trained
   stage) and at blocks.4 (frozen: a control that must not change), on the ImageNet samples.
3. `deepscope shape-bias` of the embedded model and of each fine-tuned one on the cue-conflict set.

Every step resumes (the commands keep their stores and decisions), so a rerun finishes what is
missing. OUT/summary.json collects the figures docs/diff.md quotes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from deepscope.cli import main as deepscope
from deepscope.jobs import write_json

HERE = Path(__file__).resolve().parent
VARIANTS = ("plain", "cutmix")


def diff(out: Path, variant: str, layer: str, samples: Path, args) -> dict:
    folder = out / f"diff-{variant}-{layer}"
    extra = (["--steps", str(args.steps), "--icon-size", str(args.icon_size), "--limit", str(args.images)]
             if layer == args.layer  # the control layer: fewer images, no icons, no classes
             else ["--no-icons", "--no-attribution", "--limit", str(args.control_images)])
    code = deepscope(["diff", "--model", "efficientnet_lite0", "--layer", layer, "--weights-b", str(out / f"{variant}.pt"),
                      "--images", str(samples), "--out", str(folder), "--positions", str(args.positions),
                      "--grid", str(args.grid), "--threads", str(args.threads), "--no-progress", *extra])
    if code:
        sys.exit(code)
    report = json.loads((folder / "diff.json").read_text())
    return {"heldout_r2": report["map"]["heldout_r2"], "top_class_survival": report["top_class_survival"],
            "change": report["change"], "images": report["num_images"], "seconds": report["timings_s"]}


def shape_bias(out: Path, name: str, weights: Path | None, cue: Path, threads: int) -> dict:
    folder = out / f"shape-{name}"
    extra = ["--weights", str(weights)] if weights else []
    code = deepscope(["shape-bias", "--stimuli", str(cue / "stimuli"), "--edges", str(cue / "edges"),
                      "--silhouettes", str(cue / "silhouettes"), "--out", str(folder), "--threads", str(threads),
                      "--no-progress", *extra])
    if code:
        sys.exit(code)
    report = json.loads((folder / "report.json").read_text())
    return {"shape_bias": report["cue_conflict"]["shape_bias"],
            "edges_accuracy": report["edges"]["accuracy_16"], "silhouettes_accuracy": report["silhouettes"]["accuracy_16"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with imagenet-samples/ and cue-conflict/")
    parser.add_argument("--out", required=True)
    parser.add_argument("--layer", default="blocks.5")
    parser.add_argument("--control-layer", default="blocks.4")
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--icon-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=400, help="ImageNet samples diffed (the first N)")
    parser.add_argument("--control-images", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    samples, cue = data / "imagenet-samples", data / "cue-conflict"
    subprocess.run([sys.executable, str(HERE / "finetune_cutmix.py"), "--images", str(samples), "--out", str(out),
                    "--threads", str(args.threads)], check=True)
    summary = {"train": json.loads((out / "train.json").read_text()),
               "shape": {"original": shape_bias(out, "original", None, cue, args.threads)}, "diff": {}}
    for variant in VARIANTS:
        summary["shape"][variant] = shape_bias(out, variant, out / f"{variant}.pt", cue, args.threads)
        summary["diff"][variant] = {layer: diff(out, variant, layer, samples, args)
                                    for layer in (args.layer, args.control_layer)}
        write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
