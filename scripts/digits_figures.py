"""The figures of docs/transformers.md, "A trained ViT on digits", from the shipped digits models.

    python scripts/digits_figures.py            # writes docs/img/digits_*.png, prints the figures as JSON

Class-logit renders of both models (each judged by both), channel renders of the ViT's middle block
against the best real digit, an activation atlas of that block over the 1797 digits (coherence and
class purity against a shuffled-label baseline), and top-k tokens against a brute-force pass.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn
from torchvision.utils import make_grid

from deepscope.atlas import IconSettings, build_atlas, collect
from deepscope.data.images import load_image_resized, save_image
from deepscope.examples import collect_top_examples
from deepscope.models import load_model
from deepscope.models.capture import activations
from deepscope.models.digits import digits_images, train_test_indices, write_digit_images
from deepscope.render import channel, class_logit, register_param, register_transforms, render, score_images
from deepscope.render.param import FourierImage
from deepscope.render.transforms import jitter, pad, scale_rotate, until

MIDDLE = "blocks.2"
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
ZOOMS, DEGREES = [0.9 + 0.02 * i for i in range(11)], list(range(-10, 11))


class GreyFourier(nn.Module):
    """A Fourier image whose three channels are averaged: grey renders, as the digits are."""

    def __init__(self, batch: int, height: int = 32, width: int = 32, generator: torch.Generator | None = None):
        super().__init__()
        self.inner = FourierImage(batch, height, width, decorrelated=False,
                                  generator=generator or torch.Generator().manual_seed(0))

    def forward(self):
        return self.inner().mean(1, keepdim=True).expand(-1, 3, -1, -1)


def digit_set() -> list:
    """Jitter, zoom and rotation sized for 32 px digits, with black padding."""
    return [pad(4, 0.0), jitter(4), scale_rotate(ZOOMS, DEGREES, 0.0), jitter(4)]


def digit_transforms(steps: int) -> list:
    return [until(int(steps * 0.85), digit_set())]


def upscale(image: torch.Tensor, factor: int = 3) -> torch.Tensor:
    return image.repeat_interleave(factor, -1).repeat_interleave(factor, -2)


def class_renders(vit, cnn, steps: int) -> dict:
    """Each model's class-logit renders, and both models' top-1 for each."""
    out, rows = {}, []
    for model in (vit, cnn):
        result = render(model, [class_logit(d) for d in range(10)], size=32, steps=steps, param=GreyFourier(10),
                        transforms=digit_transforms(steps), progress=False)
        with torch.no_grad():
            judged = {m.name: m(result.images).softmax(1) for m in (vit, cnn)}
        out[model.name] = {judge: {"top1": p.argmax(1).tolist(), "correct": int((p.argmax(1) == torch.arange(10)).sum()),
                                   "p_class": [round(float(p[d, d]), 3) for d in range(10)]}
                           for judge, p in judged.items()}
        rows.append(result.images)
    save_image(upscale(make_grid(torch.cat(rows), nrow=10, padding=2, pad_value=1.0)), IMG / "digits_classes.png")
    return out


def channel_renders(vit, images: torch.Tensor, steps: int) -> dict:
    """Every channel of the middle block: render score against the best real digit's."""
    objectives = [channel(MIDDLE, c) for c in range(64)]
    result = render(vit, objectives, size=32, steps=steps, param=GreyFourier(64), transforms=digit_transforms(steps),
                    progress=False)
    best_real = score_images(vit, objectives, images, batch_size=256).max(0).values
    save_image(upscale(make_grid(result.images, nrow=16, padding=2, pad_value=1.0), 2), IMG / "digits_vit_channels.png")
    beats = result.scores > best_real
    return {"channels": 64, "beat_every_real_digit": int(beats.sum()),
            "median_ratio": round(float((result.scores / best_real.clamp_min(1e-6))[best_real > 0].median()), 2)}


def purity(members: list[np.ndarray], labels: np.ndarray) -> float:
    """Share of the activations in cells that come from their cell's majority digit."""
    majority = sum(np.bincount(labels[m]).max() for m in members)
    return float(majority / sum(len(m) for m in members))


def digit_map(atlas, labels: np.ndarray, path: Path, cell: int = 32) -> None:
    """Each occupied cell with its majority digit, coloured by digit, shaded by purity."""
    import matplotlib

    colours = (np.array(matplotlib.colormaps["tab10"].colors) * 255).astype(int)
    size = atlas.grid.size
    canvas = Image.new("RGB", (size * cell, size * cell), "white")
    draw = ImageDraw.Draw(canvas)
    for (x, y), members in zip(atlas.grid.cells.tolist(), atlas.grid.members):
        counts = np.bincount(labels[members], minlength=10)
        digit, share = int(counts.argmax()), counts.max() / counts.sum()
        colour = tuple(int(255 - share * (255 - c)) for c in colours[digit])
        row = size - 1 - y
        draw.rectangle([x * cell, row * cell, (x + 1) * cell - 1, (row + 1) * cell - 1], fill=colour)
        draw.text((x * cell + cell // 3, row * cell + cell // 4), str(digit), fill="black")
    canvas.save(path)


def atlas_report(atlas, labels: np.ndarray, shuffled: np.ndarray) -> dict:
    """Coherence, class purity (and with shuffled labels), icon fidelity of an atlas."""
    fidelity = (atlas.fidelity or {}).get("summary") or {}
    report = {"activations": len(atlas.data), "grid": atlas.grid.size, "cells": len(atlas.grid),
              "coherence_ratio": round(atlas.coherence["ratio"], 3),
              "purity": round(purity(atlas.grid.members, labels), 3),
              "purity_shuffled_labels": round(purity(atlas.grid.members, shuffled), 3)}
    if fidelity:
        report.update(icon_median_cosine=round(fidelity["median_cosine"], 3),
                      icons_beating_real=round(fidelity["fraction_beating_real"], 3))
    return report


def atlas_figures(vit, images, labels, work: Path, steps: int) -> dict:
    """Atlases of the middle block over all digits: the 2x2 central tokens of each digit (no icons),
    and the token at the icon's position (grid position (2, 2)) with grey icons."""
    write_digit_images(work / "digits", images, labels)
    store = collect(vit, MIDDLE, work / "digits", work / "store", positions=4, margin=1, attribution=True,
                    progress=False)
    digit = np.array([int(Path(i).stem.split("_")[0]) for i in store.ids])[store.image]  # row -> digit index
    row_labels = labels.numpy()[digit]
    shuffled = np.random.default_rng(0).permutation(labels.numpy())[digit]
    four = build_atlas(vit, store, MIDDLE, grid=16, icons=None, progress=False)
    digit_map(four, row_labels, IMG / "digits_vit_atlas_positions.png", cell=20)
    centre = np.flatnonzero((store.pos[:, 0] == 2) & (store.pos[:, 1] == 2))
    register_transforms("digits", digit_set, replace=True)
    register_param("grey", GreyFourier, replace=True)
    icons = IconSettings(size=32, steps=steps, transforms="digits", param="grey", batch=64)
    atlas = build_atlas(vit, store.subset(centre), MIDDLE, grid=10, icons=icons, progress=False)
    atlas.picture().save(IMG / "digits_vit_atlas.png")
    digit_map(atlas, row_labels[centre], IMG / "digits_vit_atlas_digits.png")
    token = store.pos[:, 0].astype(np.int64) * 4 + store.pos[:, 1]
    four_report = {**atlas_report(four, row_labels, shuffled), "position_purity": round(purity(four.grid.members, token), 3)}
    return {"four_central_tokens": four_report,
            "centre_token": atlas_report(atlas, row_labels[centre], shuffled[centre])}


def top_tokens(vit, images, labels, work: Path, k: int = 9) -> dict:
    files = write_digit_images(work / "digits", images, labels)
    found = collect_top_examples(vit, MIDDLE, files, k=k, batch_size=16, progress=False)
    grid = activations(vit, torch.stack([load_image_resized(f, 32) for f in files]), [MIDDLE], canonical=True)[MIDDLE]
    best = grid.flatten(2).max(2).values.T  # (C, N)
    order = torch.sort(best, dim=1, descending=True, stable=True).indices[:, :k]
    return {"images": len(files), "k": k, "equal_to_brute_force": bool(torch.equal(found.topk.images, order))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(2)
    vit, cnn = load_model("digits_vit"), load_model("digits_cnn")
    images, labels = digits_images()
    _, test = train_test_indices()
    report = {}
    with torch.no_grad():
        report["test_accuracy"] = {m.name: round(float((m(images[test]).argmax(1) == labels[test]).float().mean()), 4)
                                   for m in (vit, cnn)}
    report["class_renders"] = class_renders(vit, cnn, args.steps)
    report["channel_renders"] = channel_renders(vit, images, args.steps)
    with tempfile.TemporaryDirectory() as work:
        report["atlas"] = atlas_figures(vit, images, labels, Path(work), args.steps)
        report["top_tokens"] = top_tokens(vit, images, labels, Path(work))
    print(json.dumps(report, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
