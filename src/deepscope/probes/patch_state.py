"""Resumable bookkeeping for patch experiments, on one `Job` (`out/.patch-state.json`): the
predictions before pasting (`.before.pt`), each pair's patch PNGs, small computed values and flip
results are finished units, so a rerun with the same settings skips finished work."""
from __future__ import annotations

from pathlib import Path

import torch

from deepscope.data.images import load_image, save_image, to_uint8
from deepscope.jobs import Job, settings_key
from deepscope.probes.flips import FlipResult

STATE_FILE = ".patch-state.json"
BEFORE = ".before.pt"


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, so a patch evaluated now equals the PNG written to disk."""
    return to_uint8(image).to(image.dtype).div(255)


def experiment_settings(model_name: str, image_paths, mode: str, ratios, seed: int,
                        sources: dict | None = None) -> dict:
    """Everything that shapes a patch experiment's results (`sources`: what the candidate sources
    render from, e.g. size, steps, layer and atlas store), the key of its state."""
    return {"model": model_name, "images": settings_key([str(p) for p in image_paths]), "mode": mode,
            "ratios": [float(r) for r in ratios], "seed": seed, "sources": sources or {}}


class PatchState:
    def __init__(self, out: Path, settings: dict):
        self.out = Path(out)
        self.job = Job(self.out, "patch", settings, state_name=STATE_FILE)

    # before-pasting predictions -------------------------------------------------------------
    def before(self, compute) -> torch.Tensor:
        path = self.out / BEFORE
        probs = self.job.load_tensors(path) if self.job.done("before") else None
        if probs is None:
            probs = compute()
            self.job.save_tensors(path, probs)
            self.job.finish("before")
        return probs

    # patches ----------------------------------------------------------------------------------
    def patches(self, pair_id: str, make) -> list:
        """The candidates of one pair: rendered once, then read back from their PNGs."""
        from deepscope.probes.patch_sources import PatchCandidate

        saved = self.job.record(f"patches/{pair_id}")
        if saved is not None and all((self.out / c["png"]).exists() for c in saved):
            return [PatchCandidate(c["name"], load_image(self.out / c["png"]), c["source"], c["info"]) for c in saved]
        (self.out / "patches").mkdir(exist_ok=True)
        made, entries = make(), []
        for cand in made:
            cand.image = quantize(cand.image)
            png = f"patches/{pair_id}_{cand.name}.png"
            save_image(cand.image, self.out / png)
            entries.append({"name": cand.name, "source": cand.source, "info": cand.info, "png": png})
        self.job.finish(f"patches/{pair_id}", entries)
        return made

    def png(self, pair_id: str, name: str) -> str | None:
        for entry in self.job.record(f"patches/{pair_id}") or []:
            if entry["name"] == name:
                return entry["png"]
        return None

    # small computed values (e.g. a pair's comparison support) ------------------------------------
    def value(self, name: str, compute) -> float:
        return self.job.run(f"values/{name}", lambda: float(compute()))

    # flip results -----------------------------------------------------------------------------
    def flips(self, run_id: str, rows: list[int], compute) -> FlipResult:
        saved = self.job.record(f"flips/{run_id}")
        if saved is not None and saved["rows"] == rows:
            hits = torch.tensor([[ch == "1" for ch in row] for row in saved["hits"]], dtype=torch.bool)
            return FlipResult(saved["placements"], rows, hits.view(len(rows), len(saved["placements"])))
        result = compute()
        self.job.finish(f"flips/{run_id}", {"rows": rows, "placements": result.placements,
                                            "hits": ["".join("1" if h else "0" for h in row)
                                                     for row in result.hits.tolist()]})
        return result
