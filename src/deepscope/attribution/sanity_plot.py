"""Pictures of a sanity report: similarity per randomized stage, and class sensitivity."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TITLES = {"spearman_abs": "Spearman rank corr. |map|", "spearman_signed": "Spearman rank corr. signed map",
          "ssim": "SSIM", "hog": "HOG similarity"}


def plot_cascade(report: dict, path: str | os.PathLike) -> None:
    """One panel per metric: mean similarity to the trained maps as stages are randomized, logits first."""
    stages = report["cascade_order"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6), sharey=True)
    control = report["random_mask_control"]["mean"]
    for ax, metric in zip(axes, TITLES):
        for method, entry in report["methods"].items():
            values = [s[metric] for s in entry["cascade"]]
            errors = [s[f"{metric}_std"] for s in entry["cascade"]]
            line, = ax.plot(range(len(stages)), values, marker="o", ms=3, label=method)
            ax.fill_between(range(len(stages)), [v - e for v, e in zip(values, errors)],
                            [v + e for v, e in zip(values, errors)], color=line.get_color(), alpha=0.08)
        ax.axhline(control[metric], color="grey", ls="--", lw=1, label="random mask")
        ax.set_xticks(range(len(stages)), stages, rotation=60, ha="right", fontsize=7)
        ax.set_title(TITLES[metric], fontsize=10)
        ax.set_ylim(-0.5, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"similarity to trained model (mean of {report['images']} images)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="center right")
    fig.suptitle(f"Cascading randomization of {report['model']}, from the logits down", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_class_sensitivity(report: dict, path: str | os.PathLike) -> None:
    """Bars: rank correlation of each method's top-1-class map with its random-class map."""
    methods = list(report["methods"])
    values = [report["methods"][m]["class_sensitivity"]["spearman_abs"] for m in methods]
    threshold = report["thresholds"]["class_insensitive_spearman_abs"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    colors = ["tab:red" if v >= threshold else "tab:blue" for v in values]
    ax.barh(methods, values, color=colors)
    ax.axvline(threshold, color="grey", ls="--", lw=1)
    ax.set_xlim(min(0.0, min(values) - 0.05), 1.0)
    ax.invert_yaxis()
    ax.set_xlabel("Spearman |map|: top-1 class vs random class (red: class-insensitive)")
    ax.set_title(f"Class sensitivity, {report['model']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
