"""How good an atlas is: icon fidelity (does the icon show its cell?) and layout coherence."""
from __future__ import annotations

import numpy as np
import torch

from deepscope.atlas.grid import Grid
from deepscope.atlas.icons import IconSettings, icon_objectives
from deepscope.models.capture import activations
from deepscope.models.layout import SPATIAL, prefix_key, require_layout
from deepscope.models.vision_model import VisionModel

# ImageNet-1k indices 0..397 are animals (tench .. the last animal class, before 'abacus' & co.)
IMAGENET_ANIMALS = range(398)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def centre_activations(model: VisionModel, layer: str, images: torch.Tensor, token: int | None = None) -> np.ndarray:
    """(M, C) activation at the centre position of each image (where the icon objective looks), or at
    prefix token `token` of a token layer."""
    require_layout(model, layer, *SPATIAL, method="icon fidelity", size=images.shape[-1])
    acts = activations(model, images.to(model.device), [layer], canonical=True)
    if token is not None:
        return acts[prefix_key(layer)][:, token].float().cpu().numpy()
    grid = acts[layer]
    h, w = grid.shape[-2:]
    return grid[:, :, h // 2, w // 2].float().cpu().numpy()


def icon_fidelity(model: VisionModel, layer: str, grid: Grid, acts: np.ndarray, icons: torch.Tensor,
                  settings: IconSettings, whitening: np.ndarray | None = None) -> dict:
    """Per cell: cosine of the icon's centre activation with the cell direction, the icon's
    objective score and the best score of any real activation of the cell under that objective."""
    centre = centre_activations(model, layer, icons, settings.token)
    cosines = _cosine(centre, grid.directions)
    objectives = icon_objectives(layer, grid.directions, settings, whitening)
    icon_scores, best_real = [], []
    for i, objective in enumerate(objectives):
        icon_scores.append(float(objective.score({layer: torch.from_numpy(centre[i:i + 1])})[0]))
        real = torch.from_numpy(np.asarray(acts[grid.members[i]], np.float32))
        best_real.append(float(objective.score({layer: real}).max()))
    icon_scores, best_real = np.array(icon_scores), np.array(best_real)
    beats = icon_scores > best_real
    return {
        "cosine": cosines.tolist(), "icon_score": icon_scores.tolist(), "best_real_score": best_real.tolist(),
        "beats_real": beats.tolist(),
        "summary": {"cells": len(grid), "median_cosine": float(np.median(cosines)) if len(grid) else None,
                    "fraction_beating_real": float(beats.mean()) if len(grid) else None,
                    "median_score_ratio": float(np.median(icon_scores / np.maximum(best_real, 1e-12)))
                    if len(grid) else None},
    }


def _neighbour_pairs(cells: np.ndarray) -> list[tuple[int, int]]:
    where = {tuple(c): i for i, c in enumerate(cells.tolist())}
    pairs = []
    for i, (x, y) in enumerate(cells.tolist()):
        for dx, dy in ((1, 0), (0, 1)):
            j = where.get((x + dx, y + dy))
            if j is not None:
                pairs.append((i, j))
    return pairs


def coherence(grid: Grid) -> dict:
    """Mean cosine of the directions of side-by-side cells against that of all pairs of cells.

    A ratio above 1 means the layout puts similar activations next to each other.
    """
    pairs = _neighbour_pairs(grid.cells)
    unit = grid.directions / (np.linalg.norm(grid.directions, axis=1, keepdims=True) + 1e-12)
    sims = unit @ unit.T
    n = len(grid)
    if not pairs or n < 3:
        return {"neighbour_pairs": len(pairs), "neighbour_similarity": None, "random_similarity": None, "ratio": None}
    neighbour = float(np.mean([sims[i, j] for i, j in pairs]))
    random = float((sims.sum() - np.trace(sims)) / (n * (n - 1)))
    return {"neighbour_pairs": len(pairs), "neighbour_similarity": neighbour, "random_similarity": random,
            "ratio": neighbour / random}


def group_share(cell_attr: np.ndarray, group=IMAGENET_ANIMALS) -> np.ndarray:
    """Per cell, the share of its positive mean attribution that goes to the classes in `group`."""
    positive = np.clip(cell_attr, 0, None)
    return positive[:, list(group)].sum(1) / np.maximum(positive.sum(1), 1e-12)


def label_clustering(grid: Grid, inside: np.ndarray, name: str = "animal") -> dict:
    """Do the cells of a group (boolean `inside`, e.g. mostly attributed to animal classes) sit next
    to each other? Rate at which a neighbour of such a cell is one too, against the share of such
    cells overall (ratio > 1: they cluster)."""
    inside = np.asarray(inside, bool)
    pairs = _neighbour_pairs(grid.cells)
    hits = [inside[j] for i, j in pairs if inside[i]] + [inside[i] for i, j in pairs if inside[j]]
    base = float(inside.mean()) if len(inside) else 0.0
    rate = float(np.mean(hits)) if hits else None
    return {"group": name, "cells": int(inside.sum()), "base_rate": base, "neighbour_rate": rate,
            "ratio": rate / base if rate is not None and base > 0 else None}


def animal_clustering(grid: Grid, cell_attr: np.ndarray) -> dict:
    """`label_clustering` of ImageNet animal cells, two ways: cells whose positive attribution goes
    mostly (> 50%) to the 398 animal classes, and cells whose top class is an animal. The first is
    the robust one: one position's top class is noisy (at EfficientNet's blocks.5 it is the image's
    own class for ~3% of positions), a group's attribution mass is not."""
    by_mass = label_clustering(grid, group_share(cell_attr) > 0.5)
    by_mass["by_top_class"] = label_clustering(grid, np.isin(cell_attr.argmax(1), list(IMAGENET_ANIMALS)))
    by_mass["rule"] = "cell's positive attribution > 50% to animal classes (0..397)"
    return by_mass
