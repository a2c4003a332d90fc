"""Resumable bookkeeping for patch experiments: predictions before pasting, patch PNGs and flip
results are kept in the output folder, so a rerun with the same settings skips finished work."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from deepscope.data.images import load_image, save_image
from deepscope.probes.flips import FlipResult
from deepscope.viz.output import write_atomic

STATE_FILE = ".patch-state.json"


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, so a patch evaluated now equals the PNG written to disk."""
    return (image.clamp(0, 1) * 255 + 0.5).floor().div(255)


class PatchState:
    def __init__(self, out: Path, key: str):
        self.out = out
        self.path = out / STATE_FILE
        state = json.loads(self.path.read_text()) if self.path.exists() else {}
        fresh = state.get("key") != key
        self.key = key
        self.data: dict = {} if fresh else state
        self.data.setdefault("flips", {})
        self.data.setdefault("patches", {})
        self.data.setdefault("values", {})
        self.data["key"] = key

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data))

    # before-pasting predictions -------------------------------------------------------------
    def before(self, compute) -> torch.Tensor:
        path = self.out / ".before.pt"
        if self.data.get("before") and path.exists():
            return torch.load(path)
        probs = compute()
        torch.save(probs, path)
        self.data["before"] = True
        self.save()
        return probs

    # patches ----------------------------------------------------------------------------------
    def patches(self, pair_id: str, make) -> list:
        """The candidates of one pair: rendered once, then read back from their PNGs."""
        from deepscope.probes.patch_sources import PatchCandidate

        saved = self.data["patches"].get(pair_id)
        if saved is not None and all((self.out / c["png"]).exists() for c in saved):
            return [PatchCandidate(c["name"], load_image(self.out / c["png"]), c["source"], c["info"]) for c in saved]
        (self.out / "patches").mkdir(exist_ok=True)
        made, entries = make(), []
        for cand in made:
            cand.image = quantize(cand.image)
            png = f"patches/{pair_id}_{cand.name}.png"
            save_image(cand.image, self.out / png)
            entries.append({"name": cand.name, "source": cand.source, "info": cand.info, "png": png})
        self.data["patches"][pair_id] = entries
        self.save()
        return made

    def png(self, pair_id: str, name: str) -> str | None:
        for entry in self.data["patches"].get(pair_id, []):
            if entry["name"] == name:
                return entry["png"]
        return None

    # small computed values (e.g. a pair's comparison support) ------------------------------------
    def value(self, name: str, compute) -> float:
        if name not in self.data["values"]:
            self.data["values"][name] = float(compute())
            self.save()
        return self.data["values"][name]

    # flip results -----------------------------------------------------------------------------
    def flips(self, run_id: str, rows: list[int], compute) -> FlipResult:
        saved = self.data["flips"].get(run_id)
        if saved is not None and saved["rows"] == rows:
            hits = torch.tensor([[ch == "1" for ch in row] for row in saved["hits"]], dtype=torch.bool)
            return FlipResult(saved["placements"], rows, hits.view(len(rows), len(saved["placements"])))
        result = compute()
        self.data["flips"][run_id] = {"rows": rows, "placements": result.placements,
                                      "hits": ["".join("1" if h else "0" for h in row) for row in result.hits.tolist()]}
        self.save()
        return result
