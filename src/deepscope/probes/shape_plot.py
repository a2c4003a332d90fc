"""The shape-bias plot in the style of Geirhos et al. 2019 (Fig. 4): one row per category, one mark
per observer and category, shape decisions to the right, texture decisions to the left, and a
vertical line at each observer's overall shape bias."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

HUMAN_STYLE = {"color": "#d62728", "marker": "o"}
_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2"]
_MARKERS = ["D", "s", "^", "v", "p", "h", "P"]  # 9 colours x 7 markers: 63 distinct styles in a row
MODEL_STYLES = [{"color": _COLORS[i % 9], "marker": _MARKERS[i % 7]} for i in range(63)]


@dataclass
class PlotEntry:
    """One observer's marks: overall shape bias and per-category shape bias (None = no decided image)."""

    label: str
    shape_bias: float | None
    per_category: dict[str, float | None]
    human: bool = False


def plot_shape_bias(entries: Sequence[PlotEntry], categories: Sequence[str], path: str | os.PathLike,
                    title: str | None = None, dpi: int = 110) -> None:
    """Write the plot to `path` (PNG, or any format matplotlib knows by the extension)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    height = 1.6 + 0.28 * len(categories)
    fig, ax = plt.subplots(figsize=(5.2, height))
    rows = {c: i for i, c in enumerate(categories)}
    model_index = 0
    for entry in entries:
        if entry.human:
            style = HUMAN_STYLE
        else:
            style = MODEL_STYLES[model_index % len(MODEL_STYLES)]
            model_index += 1
        xs = [entry.per_category.get(c) for c in categories]
        points = [(x, rows[c]) for c, x in zip(categories, xs) if x is not None]
        overall = f"{entry.shape_bias:.3f}" if entry.shape_bias is not None else "n/a"
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=34, marker=style["marker"],
                   color=style["color"], edgecolors=(0.3, 0.3, 0.3, 0.3), linewidths=0.4, alpha=0.85,
                   label=f"{entry.label} ({overall})", zorder=3)
        if entry.shape_bias is not None:
            ax.axvline(entry.shape_bias, color=style["color"], linewidth=1.2, alpha=0.7, zorder=2)
    ax.set_yticks(range(len(categories)))
    ax.set_yticklabels(categories)
    ax.set_ylim(len(categories) - 0.5, -0.5)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("Fraction of 'shape' decisions")
    top = ax.secondary_xaxis("top", functions=(lambda x: 1 - x, lambda x: 1 - x))
    top.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    top.set_xlabel("Fraction of 'texture' decisions")
    ax.grid(axis="y", color="0.9", linewidth=0.6, zorder=0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16 * 8 / max(8, height)), ncol=2, fontsize=7,
              frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
