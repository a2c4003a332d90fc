"""Class weights of units that feed the logits directly (layer -> global average pool -> linear, or a
vector layer -> linear).

The link is checked numerically, not guessed from names: the final `nn.Linear` applied to the
spatial mean of the layer's activations (over its canonical grid: a map's positions, a token layer's
patches) must reproduce the model's logits on a probe image.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from deepscope.app.paths import layer_data
from deepscope.jobs import write_text
from deepscope.models.capture import activations
from deepscope.models.heads import classifier_head
from deepscope.models.layout import layer_spec
from deepscope.models.vision_model import VisionModel

TOP = 10


def logit_weights(model: VisionModel, layer: str) -> torch.Tensor | None:
    """(classes, channels) weights when `layer` reaches the logits as pool -> linear (a vector: linear), else None."""
    found = classifier_head(model)
    if found is None:
        return None
    head = found[1]
    gen = torch.Generator().manual_seed(0)
    probe = torch.rand(2, 3, model.input_size, model.input_size, generator=gen).to(model.device)
    spec = layer_spec(model, layer)
    if spec.channels != head.in_features:
        return None
    with torch.no_grad():
        acts = activations(model, probe, [layer], canonical=True)[layer]
        logits = model(probe)
        predicted = head(acts.mean((2, 3)) if spec.spatial else acts.flatten(1))
    if logits.shape != predicted.shape or not torch.allclose(logits, predicted, rtol=1e-3, atol=1e-3):
        return None
    return head.weight.detach().cpu()


def class_weights(model: VisionModel, layer: str, channels: list[int], site: Path) -> dict:
    """Write `data/weights.json`: per unit its most positive and most negative class weights."""
    weights = logit_weights(model, layer)
    out: dict = {"layer": layer, "feeds_logits": weights is not None, "units": {}}
    if weights is not None:
        names = model.classes or [str(i) for i in range(weights.shape[0])]
        for c in channels:
            column = weights[:, c]
            order = torch.argsort(column, descending=True).tolist()
            top = [{"class": names[i], "index": i, "weight": round(float(column[i]), 5)} for i in order[:TOP]]
            bottom = [{"class": names[i], "index": i, "weight": round(float(column[i]), 5)} for i in order[-TOP:][::-1]]
            out["units"][str(c)] = {"positive": top, "negative": bottom}
    path = layer_data(site, layer, "weights")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(out, indent=1))
    return out
