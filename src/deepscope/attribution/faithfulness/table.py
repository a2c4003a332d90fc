"""The table of an evaluate report: one row per method, one column per metric (mean ± std over
the images), as Markdown (`evaluate.md`) and CSV (`evaluate.csv`)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from deepscope.jobs import write_text

# column title, metric, how to read the record (key path), better when
COLUMNS = (
    ("deletion AUC", "deletion", (), "lower"),
    ("insertion AUC", "insertion", (), "higher"),
    ("ROAD MoRF accuracy", "road", ("morf",), "lower"),
    ("ROAD LeRF accuracy", "road", ("lerf",), "higher"),
    ("Random Logit SSIM", "random-logit", (), "lower"),
    ("Sparseness (Gini)", "sparseness", (), "higher"),
)


def _cell(record: dict | None, path: tuple) -> tuple[float, float] | None:
    for key in path:
        record = (record or {}).get(key)
    return (record["mean"], record["std"]) if record else None


def _randomization(report: dict, method: str) -> tuple[str, str]:
    sanity = (report.get("randomization") or {}).get("methods", {}).get(method)
    if not sanity:
        return "", ""
    passes = "passes" if sanity["randomization"]["passes"] else "reconstructs the image"
    cls = sanity["class_sensitivity"]
    return passes, f"{'insensitive' if cls['class_insensitive'] else 'sensitive'} ({cls['spearman_abs']:.2f})"


def rows(report: dict) -> tuple[list[str], list[list[str]], list[dict]]:
    """(Markdown header, Markdown rows, CSV records) of the report's methods."""
    columns = [c for c in COLUMNS if any(c[1] in m for m in report["methods"].values())]
    sanity = bool(report.get("randomization"))
    header = ["method"] + [f"{t} ({'↓' if better == 'lower' else '↑'})" for t, _, _, better in columns]
    header += ["randomization", "class sensitivity (ρ)"] if sanity else []
    lines, records = [], []
    for method, metrics in report["methods"].items():
        cells = [_cell(metrics.get(metric), path) for _, metric, path, _ in columns]
        line = [method] + [f"{m:.3f} ± {s:.3f}" if c else "" for c in cells for m, s in [c or (0, 0)]]
        record = {"method": method}
        for (title, *_), c in zip(columns, cells):
            record[title], record[f"{title} std"] = (c if c else ("", ""))
        if sanity:
            verdict, cls = _randomization(report, method)
            line += [verdict, cls]
            record.update(randomization=verdict, class_sensitivity=cls)
        lines.append(line)
        records.append(record)
    return header, lines, records


def markdown(report: dict) -> str:
    header, lines, _ = rows(report)
    text = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    text += [f"| {' | '.join(line)} |" for line in lines]
    note = (f"\n{report['images']} images at {report['size']} px, {report['model']}; mean ± std over the images. "
            "random-map: uniform random maps (the reference).\n")
    return "\n".join(text) + "\n" + note


def write_tables(report: dict, out: Path) -> None:
    """`evaluate.md` and `evaluate.csv` in `out`."""
    _, _, records = rows(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["method"])
    writer.writeheader()
    writer.writerows(records)
    write_text(Path(out) / "evaluate.md", markdown(report))
    write_text(Path(out) / "evaluate.csv", buffer.getvalue())
