"""The ranked table: `multiuse.json` (every unit ranked, the candidates with their patch tests) and a
short `multiuse.md`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deepscope.jobs import write_json, write_text
from deepscope.probes.multiuse.candidates import Unit, unit_entry

CHOICES = {
    "channel_support": "mean attribution (h·dlogit_c/dh of the whole position) over the channel's top-activating "
                       "positions, weighted by activation, minus the mean over all positions",
    "cell_support": "mean attribution of the cell's positions minus the mean over all positions",
    "score": "over the unit's top classes' unrelated pairs (classifier-row cosine below `unrelated`): the largest "
             "min(support_a, support_b) * (1 - cosine)",
    "held_out": "the store's images are split (seeded, `holdout` share held out); candidates come from the other "
                "images' positions, patches are tested on held-out images (universal: every image not already "
                "the class)",
    "validated": "the patch's flip rate (best size and corner per image) beats the same-size noise control's by at "
                 "least `margin` for at least one of the unit's classes; dual_validated: for two or more",
}


def write_report(out: Path, model, store, request, ranked: list[Unit], candidates: list[Unit],
                 records: dict[str, dict], cosines: np.ndarray, images: dict) -> dict:
    names = store.classes
    rows = []
    for rank, unit in enumerate(ranked, 1):
        if unit in candidates:
            rows.append(_candidate(rank, unit, records[unit.name], cosines, names))
    passed = [r for r in rows if r["validation"]["validated"]]
    report = {
        "model": model.name, "layer": store.layer, "store": str(store.root), "positions": len(store),
        "images": images, "test_images": next(iter(records.values()))["images"] if records else 0,
        "settings": {k: v for k, v in vars(request).items() if k not in ("atlas_store", "images")},
        "choices": CHOICES,
        "units": {"channels": sum(u.kind == "channel" for u in ranked), "cells": sum(u.kind == "cell" for u in ranked),
                  "flagged": sum(u.flagged for u in ranked)},
        "summary": {"candidates": len(rows), "validated": len(passed),
                    "dual_validated": sum(r["validation"]["dual_validated"] for r in rows),
                    "validated_units": [r["unit"] for r in passed]},
        "candidates": rows,
        "ranking": [{"rank": i, **unit_entry(u, cosines, names)} for i, u in enumerate(ranked, 1)],
    }
    write_json(out / "multiuse.json", report)
    write_text(out / "multiuse.md", markdown(report))
    return report


def _candidate(rank: int, unit: Unit, record: dict, cosines: np.ndarray, names: list[str]) -> dict:
    validation = {**record, "classes": [{"name": names[e["class"]], **e} for e in record["classes"]]}
    return {"rank": rank, **unit_entry(unit, cosines, names), "sheet": f"sheets/{unit.name}.png",
            "validation": validation}


def markdown(report: dict) -> str:
    s = report["summary"]
    lines = [f"# Multi-use features of {report['model']} {report['layer']}", "",
             (f"{report['units']['channels']} channels and {report['units']['cells']} atlas cells; "
             f"{report['units']['flagged']} support unrelated classes. Patch tests on {report['test_images']} held-out "
             f"images: **{s['validated']} of {s['candidates']}** candidates validated (patch beats noise by >= "
             f"{100 * report['settings']['margin']:.0f} points), {s['dual_validated']} for two classes."), "",
             "| rank | unit | classes (support) | cosine | flips: patch / noise | validated |", "|---|---|---|---|---|---|"]
    for row in report["candidates"]:
        classes = ", ".join(f"{c['name']} ({c['support']:+.2f})" for c in row["top_classes"])
        flips = "; ".join(f"{e['name']} {100 * e['patch']['best_rate']:.0f}% / {100 * e['noise']['best_rate']:.0f}%"
                          for e in row["validation"]["classes"])
        verdict = "both" if row["validation"]["dual_validated"] else "yes" if row["validation"]["validated"] else "no"
        lines.append(f"| {row['rank']} | [{row['unit']}]({row['sheet']}) | {classes} | {row['pair']['cosine']:+.2f} | "
                     f"{flips} | {verdict} |")
    return "\n".join(lines) + "\n"
