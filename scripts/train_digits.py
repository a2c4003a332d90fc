"""Train the two digits models deepscope ships (`digits_vit`, `digits_cnn`) and write their weights.

    python scripts/train_digits.py            # both, into src/deepscope/models/data/
    python scripts/train_digits.py --only digits_vit --out /tmp/weights

scikit-learn's bundled digits (1797 8x8 images), upsampled to 32 px greyscale RGB, split with a fixed
seed (`deepscope.models.digits.train_test_indices`); trained on 2 CPU threads with a fixed seed, so a
rerun writes the same weights (about 2.5 minutes per model on 2 cores). Augmentation (random shifts,
rotations, zooms, ink and background tints, noise) and free adversarial training (Shafahi et al. 2019)
make the models robust, which is what lets feature visualizations of them look like digits.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from deepscope.models.digits import BUILDERS, DATA, MEAN, STD, digits_images, train_test_indices
from deepscope.models.vision_model import VisionModel

SETTINGS = {  # per model: epochs, batch, peak learning rate, weight decay, L-inf radius of the adversarial
    # perturbation and replays per batch, the share of the epochs over which augmentation and the
    # adversarial radius ramp up, the augmentation's ranges
    "digits_vit": {"epochs": 40, "batch": 32, "lr": 1e-3, "weight_decay": 0.05, "eps": 0.05, "replays": 2,
                   "ramp": 0.3, "augment": {"shift": 3, "degrees": 10, "zoom": 0.1}},
    "digits_cnn": {"epochs": 10, "batch": 32, "lr": 2e-3, "weight_decay": 5e-4, "eps": 0.1, "replays": 2,
                   "ramp": 0.3, "augment": {"shift": 4, "degrees": 15, "zoom": 0.15}},
}
SEED = 0


def augment(images: torch.Tensor, gen: torch.Generator, strength: float = 1.0, shift: float = 4,
            degrees: float = 15, zoom: float = 0.15) -> torch.Tensor:
    """Random affine (shift up to `shift` px, rotation up to `degrees`, zoom 1 +- `zoom`), ink and
    background tints per channel, and Gaussian noise, all ranges scaled by `strength`; every image
    draws its own parameters."""
    b, size = images.shape[0], images.shape[-1]
    rand = lambda *shape: torch.rand(*shape, generator=gen)
    angle = (rand(b) * 2 - 1) * math.radians(degrees) * strength
    scale = 1 + (rand(b) * 2 - 1) * zoom * strength
    offset = (rand(b, 2) * 2 - 1) * (2 * shift / size) * strength  # affine_grid's units: the image spans 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ink = 1 - 0.4 * strength * rand(b, 3, 1, 1)
    background = 0.15 * strength * rand(b, 3, 1, 1)
    tinted = background + (ink - background) * moved
    noisy = tinted + 0.08 * strength * rand(b, 1, 1, 1) * torch.randn(tinted.shape, generator=gen)
    return noisy.clamp(0, 1)


def free_adversarial_steps(model, opt, schedule, images, labels, eps: float, replays: int,
                           gen: torch.Generator) -> float:
    """Free adversarial training (Shafahi et al. 2019): the batch is trained on `replays` times; each
    backward pass also gives the input gradient, which moves the perturbation by an FGSM step of
    1.25 eps (kept in the L-inf ball of radius eps, from a uniform random start). Returns the mean loss."""
    delta = (torch.rand(images.shape, generator=gen) * 2 - 1) * eps
    total = 0.0
    for _ in range(replays):
        delta.requires_grad_(eps > 0)
        loss = F.cross_entropy(model((images + delta).clamp(0, 1)), labels, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        total += loss.item()
        if eps > 0:
            delta = (delta.detach() + 1.25 * eps * delta.grad.sign()).clamp(-eps, eps)
    return total / replays


@torch.no_grad()
def accuracy(model, images, labels) -> float:
    model.eval()
    predicted = torch.cat([model(images[i:i + 256]).argmax(1) for i in range(0, len(images), 256)])
    return float((predicted == labels).float().mean())


def train(name: str, images, labels, settings: dict) -> tuple[VisionModel, dict]:
    """Train `name` with AdamW and a warmed-up cosine schedule; returns the model and its figures."""
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = VisionModel(BUILDERS[name](), MEAN, STD, name=name, input_size=images.shape[-1])
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    batch_size = settings["batch"]
    steps_per_epoch = math.ceil(len(images) / batch_size)
    replays = settings["replays"]
    total, warmup = settings["epochs"] * steps_per_epoch * replays, 2 * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0))))
    start = time.perf_counter()
    for epoch in range(settings["epochs"]):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        total_loss = 0.0
        strength = min(1.0, epoch / max(settings["ramp"] * settings["epochs"], 1))
        for first in range(0, len(images), batch_size):
            batch = order[first:first + batch_size]
            x = augment(images[batch], gen, strength, **settings["augment"])
            loss = free_adversarial_steps(model, opt, schedule, x, labels[batch], settings["eps"] * strength,
                                          replays, gen)
            total_loss += loss * len(batch)
        print(f"{name} epoch {epoch + 1}/{settings['epochs']} loss {total_loss / len(images):.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    model.eval()
    figures = {"seconds": round(time.perf_counter() - start, 1),
               "parameters": sum(p.numel() for p in model.net.parameters())}
    return model, figures


def save_weights(model: VisionModel, path: Path) -> int:
    """The network's state dict as plain contiguous tensors (`torch.load(weights_only=True)` reads it)."""
    state = {k: v.detach().clone().contiguous() for k, v in model.net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(BUILDERS), action="append", help="train only this model")
    parser.add_argument("--out", type=Path, default=DATA, help="folder for NAME.pt (default: the package's)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, labels = digits_images()
    train_idx, test_idx = train_test_indices(len(images))
    report = {}
    for name in args.only or list(BUILDERS):
        model, figures = train(name, images[train_idx], labels[train_idx], SETTINGS[name])
        figures["train_accuracy"] = accuracy(model, images[train_idx], labels[train_idx])
        figures["test_accuracy"] = accuracy(model, images[test_idx], labels[test_idx])
        figures["bytes"] = save_weights(model, args.out / f"{name}.pt")
        report[name] = figures
        print(json.dumps({name: figures}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
