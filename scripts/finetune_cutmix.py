"""Fine-tune the last stages of EfficientNet-Lite0 with and without CutMix (Yun et al. 2019).

    python scripts/finetune_cutmix.py --images ../shared/data/imagenet-samples --out /tmp/cutmix

Trains `blocks.5`, `blocks.6` and the head (everything before stays frozen, BatchNorm statistics
included) on the ImageNet samples (one image per class, labelled by the sorted wnids), with random
resized crops and flips, once plainly and once with torchvision's CutMix (alpha 1, every batch).
Both runs start from the embedded weights with the same seed, so they differ only in CutMix. Writes
OUT/plain.pt and OUT/cutmix.pt (state dicts for `--weights`) and OUT/train.json (settings, loss per
epoch, accuracy on the un-augmented samples, seconds). A finished variant is not trained again.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from deepscope.data import image_files, load_image_resized
from deepscope.jobs import write_json
from deepscope.models.zoo import load_model

SETTINGS = {"epochs": 2, "batch": 32, "lr": 3e-4, "weight_decay": 0.01, "crop_scale": (0.35, 1.0),
            "cutmix_alpha": 1.0, "trained": ["blocks.5", "blocks.6", "conv_head", "bn2", "classifier"], "seed": 0}
VARIANTS = ("plain", "cutmix")


def load_samples(folder: str, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples as uint8 (N, 3, size, size) and their class indices (sorted wnids = class order)."""
    files = image_files(folder)
    images = torch.stack([(load_image_resized(f, size) * 255).round().to(torch.uint8) for f in files])
    return images, torch.arange(len(files))


def frozen_and_trained(net) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The frozen front (stem, blocks 0-4) and the trained rest (blocks 5-6, head) of timm's EfficientNet."""
    front = torch.nn.Sequential(net.conv_stem, net.bn1, *net.blocks[:5])
    rest = torch.nn.Sequential(*net.blocks[5:], net.conv_head, net.bn2, net.global_pool, torch.nn.Flatten(),
                               net.classifier)
    return front, rest


def train(variant: str, images: torch.Tensor, labels: torch.Tensor, size: int) -> tuple[dict, dict]:
    torch.manual_seed(SETTINGS["seed"])
    model = load_model("efficientnet_lite0")
    front, rest = frozen_and_trained(model.net)
    model.requires_grad_(False)
    rest.requires_grad_(True)
    params = list(rest.parameters())
    optimizer = torch.optim.AdamW(params, lr=SETTINGS["lr"], weight_decay=SETTINGS["weight_decay"])
    augment = v2.Compose([v2.RandomResizedCrop(size, scale=SETTINGS["crop_scale"], antialias=True),
                          v2.RandomHorizontalFlip()])
    cutmix = v2.CutMix(alpha=SETTINGS["cutmix_alpha"], num_classes=len(labels))
    log, start = [], time.perf_counter()
    for epoch in range(SETTINGS["epochs"]):
        order, total = torch.randperm(len(labels)), 0.0
        for first in range(0, len(order), SETTINGS["batch"]):
            index = order[first:first + SETTINGS["batch"]]
            x = torch.stack([augment(images[i]) for i in index]).float() / 255
            y = F.one_hot(labels[index], len(labels)).float()
            if variant == "cutmix":
                x, y = cutmix(x, labels[index])
            with torch.no_grad():
                features = front((x - model.mean) / model.std)
            loss = torch.sum(-y * F.log_softmax(rest(features), 1), 1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        log.append({"epoch": epoch + 1, "loss": round(total / len(labels), 4),
                    "seconds": round(time.perf_counter() - start, 1)})
        print(variant, log[-1], flush=True)
    return model.net.state_dict(), {"epochs": log, "train_accuracy": accuracy(model, images, labels, size)}


@torch.no_grad()
def accuracy(model, images: torch.Tensor, labels: torch.Tensor, size: int) -> float:
    """Top-1 on the centre crops of the training samples (how much the runs fit them, not ImageNet accuracy)."""
    crop = v2.CenterCrop(size)
    hits = sum(int((model(crop(images[i:i + 64]).float() / 255).argmax(1) == labels[i:i + 64]).sum())
               for i in range(0, len(labels), 64))
    return round(hits / len(labels), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, help="the ImageNet samples (one image per class)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "train.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if report.get("settings") != json.loads(json.dumps(SETTINGS)):
        report = {"settings": SETTINGS, "runs": {}}
    todo = [v for v in VARIANTS if v not in report["runs"] or not (out / f"{v}.pt").exists()]
    if not todo:
        return
    images, labels = load_samples(args.images)
    original = load_model("efficientnet_lite0")
    report["original_train_accuracy"] = accuracy(original, images, labels, original.input_size)
    for variant in todo:
        state, record = train(variant, images, labels, original.input_size)
        torch.save(state, out / f"{variant}.pt.tmp")
        (out / f"{variant}.pt.tmp").replace(out / f"{variant}.pt")
        report["runs"][variant] = record
        write_json(report_path, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
