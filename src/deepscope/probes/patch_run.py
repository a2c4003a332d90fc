"""Patch experiments end to end (Carter et al. 2019): candidates -> screening -> full flip rates
against a same-size noise control -> JSON report and figure.

1. Predictions of the unmodified images (the "before").
2. Pairs: given, or chosen by the tool. Without an atlas: the model's most confusable pairs
   (`confusable_pairs`). With an atlas source: a wider pool of confusable pairs ranked by their
   two-class comparison (`AtlasSource.support`: how strongly the comparison's B-side cells favour B).
3. Per pair, every candidate patch and the noise control are screened on `screen` eligible images
   at every placement; with several automatic pairs, the pair whose best candidate (the best *atlas*
   candidate when an atlas is given) beats its noise control by the widest margin is chosen.
4. The best screened candidate of each pair, the best atlas candidate (when different) and the
   noise control are measured on every eligible image.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from deepscope.jobs import write_text
from deepscope.models.vision_model import VisionModel
from deepscope.probes.flips import FlipResult, flip_hits
from deepscope.probes.image_set import ImageSet, predict
from deepscope.probes.paste import RATIOS, NoisePatch, placements
from deepscope.probes.patch_pairs import confusable_pairs, eligible_rows
from deepscope.probes.patch_sources import CandidateSource, gather_candidates
from deepscope.probes.patch_state import PatchState, experiment_settings

NOISE = "noise"
POOL_PER_PAIR = 4  # with an atlas, confusable pairs ranked by their comparison per pair screened


@dataclass
class PatchSettings:
    mode: str = "universal"  # or "targeted"
    ratios: Sequence[float] = RATIOS
    screen: int = 48  # eligible images each candidate is screened on
    auto_pairs: int = 3  # pairs considered when none is given
    batch_size: int = 8
    seed: int = 0
    progress: bool = True


def _spread(rows: list[int], count: int) -> list[int]:
    """`count` rows evenly spread over `rows` (all of them if there are fewer)."""
    if count >= len(rows):
        return list(rows)
    step = len(rows) / count
    return [rows[int(i * step)] for i in range(count)]


class PatchExperiment:
    def __init__(self, model: VisionModel, images: ImageSet, sources: Sequence[CandidateSource], out: str | os.PathLike,
                 settings: PatchSettings, source_settings: dict | None = None):
        self.model, self.images, self.sources, self.settings = model, images, list(sources), settings
        self.out = Path(out)
        self.places = placements(settings.ratios)
        self.state = PatchState(self.out, experiment_settings(model.name, images.paths, settings.mode,
                                                              settings.ratios, settings.seed, source_settings))
        self.before = self.state.before(lambda: predict(model, images, settings.batch_size, settings.progress))
        self.noise = NoisePatch(settings.seed)

    def class_name(self, index: int) -> str:
        """The model's name of class `index` (the index itself when the model has no class names)."""
        return self.model.classes[index] if self.model.classes else str(index)

    def _flips(self, run_id: str, rows: list[int], patch, target: int) -> FlipResult:
        s = self.settings
        return self.state.flips(run_id, rows, lambda: flip_hits(self.model, self.images, rows, patch, target,
                                                                 self.places, batch_size=s.batch_size,
                                                                 progress=s.progress, desc=run_id))

    def screen(self, a: int, b: int) -> dict:
        """Render the pair's candidates and screen them (and the noise control) on a few images."""
        pair_id = f"{a}_{b}"
        rows = eligible_rows(self.images, self.before, a, b, self.settings.mode)
        candidates = self.state.patches(pair_id, lambda: gather_candidates(self.model, a, b, self.sources))
        screen_rows = _spread(rows, self.settings.screen)
        screened = []
        for cand in candidates:
            result = self._flips(f"screen/{pair_id}/{cand.name}", screen_rows, cand.image, b)
            screened.append({"name": cand.name, "source": cand.source, "png": self.state.png(pair_id, cand.name),
                             "info": cand.info, "screen": result.as_dict()})
        noise = self._flips(f"screen/{pair_id}/{NOISE}", screen_rows, self.noise, b)
        best = _best(screened)
        atlas = _best([c for c in screened if c["source"] == "atlas"])
        return {"a": a, "b": b, "names": [self.class_name(a), self.class_name(b)], "eligible": len(rows),
                "screen_images": len(screen_rows), "candidates": screened, "noise_screen": noise.as_dict(),
                "best_candidate": best["name"] if best else None,
                "screen_margin": (best["screen"]["best_rate"] - noise.best_rate) if best else None,
                "best_atlas_candidate": atlas["name"] if atlas else None,
                "atlas_screen_margin": (atlas["screen"]["best_rate"] - noise.best_rate) if atlas else None,
                "_candidates": candidates, "_rows": rows, "_screen_rows": screen_rows}

    def measure(self, pair: dict) -> dict:
        """Full flip rates of the pair's best candidate and of the noise control on every eligible image."""
        a, b, rows = pair["a"], pair["b"], pair["_rows"]
        noise = self._flips(f"full/{a}_{b}/{NOISE}", rows, self.noise, b)
        pair["noise"] = noise.as_dict()
        screened = set(pair["_screen_rows"])
        held = [i for i, r in enumerate(rows) if r not in screened]  # images the choices never saw
        for key, name in (("best", pair["best_candidate"]), ("best_atlas", pair.get("best_atlas_candidate"))):
            if name is None:
                continue
            cand = next(c for c in pair["_candidates"] if c.name == name)
            result = self._flips(f"full/{a}_{b}/{cand.name}", rows, cand.image, b)
            pair[key] = {"name": cand.name, **result.as_dict()}
            if held:
                pair[key]["held_out"] = {"eligible": len(held),
                                         "patch_best_rate": float(result.hits[held].any(1).float().mean()),
                                         "noise_best_rate": float(noise.hits[held].any(1).float().mean())}
            if key == "best":
                pair["_best_result"] = result
        return pair

    def run(self, pairs: Sequence[tuple[int, int]] | None = None) -> dict:
        chosen_by = "user" if pairs else "auto"
        considered, ranking = [], []
        if not pairs:
            atlas = next((s for s in self.sources if hasattr(s, "support")), None)
            count = self.settings.auto_pairs
            options = confusable_pairs(self.before, count * (POOL_PER_PAIR if atlas else 1))
            if atlas is not None:
                chosen_by = "auto: confusable pairs ranked by their two-class comparison"
                for p in tqdm(options, desc="two-class comparisons", disable=not self.settings.progress, leave=False):
                    p["comparison_support"] = self.state.value(
                        f"support/{p['a']}_{p['b']}", lambda p=p: atlas.support(self.model, p["a"], p["b"]))
                options.sort(key=lambda p: -p["comparison_support"])
                ranking = [{"names": [self.class_name(p["a"]), self.class_name(p["b"])], **p} for p in options]
                options = options[:count]
            considered = [self.screen(p["a"], p["b"]) | p for p in options]
            key = "atlas_screen_margin" if atlas is not None else "screen_margin"
            usable = [p for p in considered if p[key] is not None]
            finals = [max(usable, key=lambda p: p[key])] if usable else []
        else:
            finals = [self.screen(a, b) for a, b in pairs]
        finals = [self.measure(p) for p in finals if p["best_candidate"] is not None]
        report = {"model": self.model.name, "mode": self.settings.mode, "images": len(self.images),
                  "placements": [p.name for p in self.places], "pair_choice": chosen_by,
                  "pairs": [_public(p) for p in finals], "pooled": pooled(finals),
                  "considered": [_public(p) for p in considered], "pair_ranking": ranking}
        self._figure(finals, report)
        write_text(self.out / "report.json", json.dumps(report, indent=1))
        return report

    def _figure(self, finals: list[dict], report: dict) -> None:
        from deepscope.probes.patch_figure import patch_figure

        if finals:
            patch_figure(self, finals, self.out / "patches.png")
            report["figure"] = "patches.png"


def _best(screened: list[dict]) -> dict | None:
    return max(screened, key=lambda c: c["screen"]["best_rate"]) if screened else None


def _public(pair: dict) -> dict:
    return {k: v for k, v in pair.items() if not k.startswith("_")}


def pooled(pairs: Sequence[dict]) -> dict:
    """Flips over all pairs together, for the best candidates and for the noise controls."""
    def pool(key: str) -> dict:
        eligible = sum(p[key]["eligible"] for p in pairs)
        best = sum(p[key]["flipped_best"] for p in pairs)
        fixed = sum(round(p[key]["fixed_rate"] * p[key]["eligible"]) for p in pairs)
        return {"eligible": eligible, "best_rate": best / eligible if eligible else 0.0,
                "fixed_rate": fixed / eligible if eligible else 0.0}
    if not pairs:
        return {}
    out = {"patch": pool("best"), "noise": pool("noise")}
    if all("best_atlas" in p for p in pairs):
        out["atlas_patch"] = pool("best_atlas")
    return out
