"""Write occlusion maps: `occlusion.json` (settings, summary, maps as lists), `occlusion.npz` (raw
arrays) and `occlusion.png` (the input and the maps over it)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepscope.examples.occlusion import OcclusionResult
from deepscope.jobs import write_json


def _name(classes: Sequence[str] | None, index: int) -> str:
    return classes[index] if classes and 0 <= index < len(classes) else str(index)


def occlusion_report(result: OcclusionResult, classes: Sequence[str] | None = None, image_path: str = "") -> dict:
    n = result.prob.shape[0]
    low = np.unravel_index(int(result.prob.argmin()), result.prob.shape)
    counts = Counter(result.label.flatten().tolist())
    report = {
        "image": image_path, "input_size": int(result.image.shape[-1]),
        "square": {"size": result.size, "stride": result.stride, "fill": result.fill},
        "grid": [n, n], "cell": "cell (i, j) = square with top-left corner (i*stride, j*stride) in the input",
        "target": {"index": result.target, "name": _name(classes, result.target)},
        "clean": {"p_target": result.clean_prob, "top1": result.clean_top1,
                  "top1_name": _name(classes, result.clean_top1)},
        "p_target": {"min": float(result.prob.min()), "max": float(result.prob.max()),
                     "min_at_square": [int(low[0]) * result.stride, int(low[1]) * result.stride, result.size]},
        "labels": [{"index": c, "name": _name(classes, c), "cells": k} for c, k in counts.most_common()],
        "maps": {"p_target": result.prob.round(5).tolist(), "label": result.label.tolist()},
    }
    if result.layer:
        report["activation"] = {"layer": result.layer, "channel": result.channel, "reduce": "spatial max (and mean)",
                                "clean_max": result.clean_activation}
        report["maps"]["activation_max"] = result.activation_max.round(5).tolist()
        report["maps"]["activation_mean"] = result.activation_mean.round(5).tolist()
    return report


def save_occlusion(result: OcclusionResult, out: str | Path, classes: Sequence[str] | None = None,
                   image_path: str = "") -> dict:
    out = Path(out)
    report = occlusion_report(result, classes, image_path)
    arrays = {"p_target": result.prob, "label": result.label, "label_prob": result.label_prob,
              "image": result.image.numpy()}
    if result.layer:
        arrays.update(activation_max=result.activation_max, activation_mean=result.activation_mean)
    np.savez_compressed(out / "occlusion.npz", **arrays)
    occlusion_figure(result, classes).savefig(out / "occlusion.png", dpi=100)
    report["files"] = {"figure": "occlusion.png", "arrays": "occlusion.npz"}
    write_json(out / "occlusion.json", report)
    return report


def occlusion_figure(result: OcclusionResult, classes: Sequence[str] | None = None):
    """Input with the square drawn; P(target), most likely label and the channel's activation over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    image = result.image.permute(1, 2, 0).numpy()
    starts = result.starts
    half = result.size / 2
    extent = (starts[0] + half - result.stride / 2, starts[-1] + half + result.stride / 2,
              starts[-1] + half + result.stride / 2, starts[0] + half - result.stride / 2)
    panels = 4 if result.layer else 3
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.6))
    axes[0].imshow(image)
    axes[0].add_patch(Rectangle((0, 0), result.size, result.size, fill=True, color=(0.5, 0.5, 0.5)))
    axes[0].set_title(f"square {result.size}px, stride {result.stride}px", fontsize=9)
    axes[1].imshow(image)
    shown = axes[1].imshow(result.prob, extent=extent, cmap="magma", alpha=0.75, vmin=0, vmax=max(result.clean_prob, 1e-6))
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    axes[1].set_title(f"P({_name(classes, result.target)[:24]})", fontsize=9)
    counts = Counter(result.label.flatten().tolist()).most_common(6)
    keep = [c for c, _ in counts]
    codes = np.vectorize(lambda c: keep.index(c) if c in keep else len(keep))(result.label)
    cmap = plt.get_cmap("tab10", len(keep) + 1)
    axes[2].imshow(image)
    axes[2].imshow(codes, extent=extent, cmap=cmap, vmin=-0.5, vmax=len(keep) + 0.5, alpha=0.7,
                   interpolation="nearest")
    axes[2].legend(handles=[Patch(color=cmap(i), label=_name(classes, c)[:22]) for i, c in enumerate(keep)],
                   fontsize=6, loc="lower left", framealpha=0.8)
    axes[2].set_title("most likely label", fontsize=9)
    if result.layer:
        axes[3].imshow(image)
        shown = axes[3].imshow(result.activation_max, extent=extent, cmap="viridis", alpha=0.75)
        fig.colorbar(shown, ax=axes[3], fraction=0.046)
        axes[3].set_title(f"{result.layer} ch {result.channel} (spatial max)", fontsize=9)
    for ax in axes:
        ax.set_xlim(0, image.shape[1])
        ax.set_ylim(image.shape[0], 0)
        ax.axis("off")
    fig.tight_layout()
    return fig
