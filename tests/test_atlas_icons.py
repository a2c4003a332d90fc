"""Icons: rendered by the engine, judged by the fidelity figures that atlas.json reports."""
import json

import numpy as np
import pytest
from helpers import sample_folder

from deepscope.atlas import IconSettings, build_atlas, collect
from deepscope.atlas.build import MIN_FRACTION_BEATING_REAL, MIN_MEDIAN_COSINE
from deepscope.atlas.icons import auto_icon_size
from deepscope.render.transforms import until


def test_transforms_until_a_step_then_none():
    calls = []
    polished = until(2, [lambda images, gen: calls.append(1) or images + 1])
    assert [polished(0, None, step) for step in range(4)] == [1, 1, 0, 0] and len(calls) == 2


@pytest.fixture(scope="module")
def small_store(model, imagenet_samples, tmp_path_factory):
    folder = sample_folder(imagenet_samples, tmp_path_factory.mktemp("images"), 16, start=400)
    return collect(model, "blocks.4", folder, tmp_path_factory.mktemp("store"), positions=4, progress=False)


def test_icon_size_follows_the_layer_stride(model):
    assert auto_icon_size(model, "blocks.4") == 80 and auto_icon_size(model, "blocks.5") == 96


def test_icons_show_their_cell_and_beat_real_activations(model, small_store, tmp_path):
    settings = IconSettings(size=64, steps=64, attempts=1, power=4.0)  # stride-16 layer: 64 px suffice
    atlas = build_atlas(model, small_store, grid=3, threshold=3, layout="pca", icons=settings, progress=False)
    assert atlas.icons.shape == (len(atlas.grid), 3, 64, 64) and len(atlas.grid) >= 3
    summary = atlas.fidelity["summary"]
    assert summary["median_cosine"] >= MIN_MEDIAN_COSINE == 0.8
    assert summary["fraction_beating_real"] >= MIN_FRACTION_BEATING_REAL == 0.9
    assert summary["passes"]
    # the render's own final score is the objective at the icon centre the fidelity check recomputes
    assert np.allclose(atlas.scores, atlas.fidelity["icon_score"], rtol=1e-3, atol=1e-4)
    atlas.save(tmp_path)
    report = json.loads((tmp_path / "atlas.json").read_text())
    assert report["fidelity"]["median_cosine"] == pytest.approx(summary["median_cosine"])
    cell = report["cells"][0]
    assert {"centre_cosine", "best_real_score", "beats_real", "score", "icon", "sources"} <= set(cell)
    assert (tmp_path / cell["icon"]).exists() and (tmp_path / "atlas.png").exists()
    assert report["coherence"]["ratio"] is not None
