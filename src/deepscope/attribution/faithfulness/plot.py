"""A picture per method of an evaluate report: deletion and insertion curves, ROAD accuracy by the
fraction removed, and the scalar metrics, each next to the random-map reference."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from deepscope.attribution.faithfulness.measure import CONTROL

SCALARS = (("random-logit", "Random Logit SSIM (↓)"), ("sparseness", "Sparseness, Gini (↑)"))


def _curve(ax, record: dict, label: str, **style) -> None:
    values = record["curve_mean"]
    xs = [i / (len(values) - 1) for i in range(len(values))]
    line, = ax.plot(xs, values, label=f"{label}: AUC {record['mean']:.3f}", **style)
    low = [m - s for m, s in zip(values, record["curve_std"])]
    high = [m + s for m, s in zip(values, record["curve_std"])]
    ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.08)


def _curves_panel(ax, metrics: dict, control: dict) -> None:
    for metric, color in (("deletion", "tab:red"), ("insertion", "tab:blue")):
        if metric in metrics:
            _curve(ax, metrics[metric], metric, color=color)
        if metric in control:
            _curve(ax, control[metric], f"{metric}, random map", color=color, ls="--", lw=1)
    ax.set_xlabel("fraction of the pixels removed / inserted (most relevant first)")
    ax.set_ylabel("probability of the target class")
    ax.set_title("Deletion and insertion (Petsiuk et al.)", fontsize=10)


def _road_panel(ax, road: dict, control: dict | None) -> None:
    for order, color in (("morf", "tab:red"), ("lerf", "tab:blue")):
        ax.plot(road["percentages"], road[order]["accuracy"], marker="o", ms=3, color=color,
                label=f"{order.upper()}: {road[order]['mean']:.2f}")
        if control:
            ax.plot(control["percentages"], control[order]["accuracy"], color=color, ls="--", lw=1,
                    label=f"{order.upper()}, random map")
    ax.set_xlabel("% of the pixels removed (noisy linear imputation)")
    ax.set_ylabel("accuracy on the target class")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("ROAD (Rong et al.)", fontsize=10)


def _scalar_panel(ax, metrics: dict, control: dict) -> None:
    names = [(key, title) for key, title in SCALARS if key in metrics]
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], [metrics[k]["mean"] for k, _ in names], height=0.4, color="tab:green",
            xerr=[metrics[k]["std"] for k, _ in names], label="method")
    ax.barh([y - 0.2 for y in ys], [control.get(k, {}).get("mean", 0) for k, _ in names], height=0.4,
            color="lightgrey", label="random map")
    ax.set_yticks(list(ys), [title for _, title in names], fontsize=8)
    lowest = min([metrics[k]["mean"] for k, _ in names] + [control.get(k, {}).get("mean", 0) for k, _ in names])
    ax.set_xlim(min(0.0, lowest - 0.05), 1)
    ax.set_title("Random Logit and Sparseness", fontsize=10)


def plot_method(report: dict, method: str, path: Path) -> None:
    """One figure of `method`'s metrics (the panels its metrics fill)."""
    metrics, control = report["methods"][method], report["methods"].get(CONTROL, {})
    control = {} if method == CONTROL else control
    panels = [p for p, keys in (("curves", ("deletion", "insertion")), ("road", ("road",)),
                                ("scalars", ("random-logit", "sparseness"))) if any(k in metrics for k in keys)]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "curves":
            _curves_panel(ax, metrics, control)
        elif panel == "road":
            _road_panel(ax, metrics["road"], control.get("road"))
        else:
            _scalar_panel(ax, metrics, control)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Faithfulness of {method} on {report['model']} ({report['images']} images, {report['size']} px)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_overview(report: dict, path: Path, dpi: int = 110) -> None:
    """One figure for all methods: deletion curves, insertion curves, ROAD accuracy (MoRF solid, LeRF dashed)."""
    methods = report["methods"]
    panels = [m for m in ("deletion", "insertion", "road") if any(m in v for v in methods.values())]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        for index, (method, metrics) in enumerate(methods.items()):
            record = metrics.get(metric)
            if record is None:
                continue
            style = {"color": "grey", "ls": ":"} if method == CONTROL else {"color": f"C{index}"}
            if metric == "road":
                for order, ls in (("morf", "-"), ("lerf", "--")):
                    ax.plot(record["percentages"], record[order]["accuracy"], marker="o", ms=3, lw=1.2,
                            label=f"{method} {order.upper()} {record[order]['mean']:.2f}", **{**style, "ls": ls})
            else:
                values = record["curve_mean"]
                ax.plot([i / (len(values) - 1) for i in range(len(values))], values,
                        label=f"{method}: {record['mean']:.3f}", **style)
        ax.set_title({"deletion": "Deletion (AUC, lower is better)", "insertion": "Insertion (AUC, higher is better)",
                      "road": "ROAD accuracy (MoRF lower, LeRF higher)"}[metric], fontsize=10)
        ax.set_xlabel("% of the pixels removed" if metric == "road" else "fraction of the pixels, most relevant first")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    axes[0][0].set_ylabel("probability / accuracy of the target class")
    fig.suptitle(f"Faithfulness on {report['model']} ({report['images']} images, {report['size']} px)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_methods(report: dict, out: Path) -> None:
    """`evaluate.png` (all methods), `<method>.png` for every method (and the control); the randomization
    pictures too."""
    plot_overview(report, Path(out) / "evaluate.png")
    for method in report["methods"]:
        plot_method(report, method, Path(out) / f"{method}.png")
    if report.get("randomization"):
        from deepscope.attribution import sanity_plot

        sanity_plot.plot_cascade(report["randomization"], Path(out) / "cascade.png")
        sanity_plot.plot_class_sensitivity(report["randomization"], Path(out) / "class_sensitivity.png")
