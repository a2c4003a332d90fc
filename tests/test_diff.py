"""`deepscope diff` on digits_cnn: a model against itself (R² 1, no change), against a copy with one
block re-initialized (change after the block, none before), the aligned collection reused for other
grid settings, positions carried between grids, and bad input answered in one line."""
from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import torch

from deepscope.atlas import IconSettings
from deepscope.cli import main
from deepscope.diff import carry_positions, diff_models
from deepscope.models import load_model
from deepscope.models.digits import digits_images, write_digit_images

ERROR_LINE = re.compile(r"^deepscope diff: error: .+$")
FAST = {"positions": 8, "layout": "pca", "folds": 3, "progress": False}


@pytest.fixture(scope="module")
def digits():
    return load_model("digits_cnn")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    pictures, labels = digits_images()
    folder = tmp_path_factory.mktemp("diff-digits")
    write_digit_images(folder, pictures[:30], labels[:30])
    return folder


@pytest.fixture(scope="module")
def reinitialized(digits):
    """digits_cnn with its middle block (`layer2`) re-initialized."""
    other = copy.deepcopy(digits)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        for module in other.net.layer2.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    other.weights_source = "layer2 re-initialized"
    return other


@pytest.fixture(scope="module")
def self_diff(digits, images, tmp_path_factory):
    store = tmp_path_factory.mktemp("self-store")
    icons = IconSettings(size=64, steps=6, attempts=1)
    return diff_models(digits, "layer2", digits, None, images, store, icons=icons, **FAST), store


def test_a_model_against_itself_changes_nowhere(self_diff, tmp_path):
    result, _ = self_diff
    assert result.r2 >= 0.99
    assert len(result.scores.change) >= 4
    assert np.all(result.scores.change <= 0.01), result.scores.change
    assert np.all(result.scores.cosine >= 0.999)
    assert result.top_class_survival == 1.0
    np.testing.assert_allclose(result.scores.directions_b, result.atlas.grid.directions, atol=1e-5)
    assert torch.allclose(result.atlas.icons, result.icons_b, atol=1e-3)  # same directions, same seeds
    out = result.save(tmp_path)
    summary = json.loads((out / "diff.json").read_text())
    assert summary["map"]["heldout_r2"] >= 0.99 and len(summary["cells"]) == len(result.scores.change)
    assert {"change", "r2", "cosine", "top_classes_a", "top_classes_b", "top_class_survives"} <= set(summary["cells"][0])
    from PIL import Image

    picture = Image.open(out / "diff.png")
    assert picture.width >= 2 * result.atlas.grid.size * 64  # A's icons beside B's


def test_a_reinitialized_block_changes_the_layers_after_it_only(digits, reinitialized, images, tmp_path):
    scores = {}
    for layer in ("layer1", "layer3"):
        result = diff_models(digits, layer, reinitialized, None, images, tmp_path / layer, icons=None,
                             attribution=False, **FAST)
        scores[layer] = (result.r2, float(np.median(result.scores.change)))
    before, after = scores["layer1"], scores["layer3"]
    assert before[0] >= 0.99 and before[1] <= 0.01, scores
    assert after[0] <= 0.9 and after[1] >= 0.2, scores


def test_other_grid_settings_reuse_the_aligned_activations(self_diff, digits, images, monkeypatch):
    result, store = self_diff

    def refuse(*_args, **_kwargs):
        raise AssertionError("the aligned activations were collected again")

    monkeypatch.setattr("deepscope.diff.aligned.Sampler", refuse)
    again = diff_models(digits, "layer2", digits, None, images, store, grid=3, threshold=2, icons=None, **FAST)
    np.testing.assert_array_equal(again.aligned.acts_b, result.aligned.acts_b)
    assert again.atlas.grid.size == 3


def test_positions_are_carried_in_image_coordinates():
    pos = np.array([[y, x] for y in range(1, 6) for x in range(1, 6)])
    assert np.array_equal(carry_positions(pos, (7, 7), (7, 7)), pos)
    moved = carry_positions(pos, (7, 7), (8, 8))  # Lite0's blocks.5 (224 px) -> Lite1's (240 px)
    centres_a, centres_b = (pos + 0.5) / 7, (moved + 0.5) / 8
    assert np.abs(centres_a - centres_b).max() <= 0.5 / 8 + 1e-9  # the same image point, within B's cell
    assert np.all(np.diff(moved[:, 1].reshape(5, 5), axis=1) > 0)  # order kept


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    import torchvision

    path = tmp_path_factory.mktemp("diff-weights") / "resnet18.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    return path


CASES = [
    ("vector-layer", ["--layer", "fc"], "no spatial map"),
    ("one-cell-map", ["--layer", "layer2", "--layer-b", "avgpool"], "give --layer-b a layer with a map"),
    ("weights-b-misfit", ["--layer", "layer2", "--weights-b", "{weights}"], "model B: "),
    ("layer-in-a-only", ["--layer", "layer2", "--model-b", "digits_vit"], "close names in digits_vit"),
    ("layer-in-b-only", ["--layer", "blocks.1", "--layer-b", "blocks.1", "--model-b", "digits_vit"],
     "model A (digits_cnn) has no layer 'blocks.1' (it is a layer of digits_vit)"),
]


@pytest.mark.parametrize("case, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, argv, expected, images, other_weights, tmp_path, capsys):
    args = ["diff", "--model", "digits_cnn", "--images", str(images), "--out", str(tmp_path), "--no-progress"]
    code = main(args + [a.format(weights=other_weights) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and lines and ERROR_LINE.match(lines[-1]) and "Traceback" not in err, err
    assert expected in lines[-1], lines[-1]
    if case == "weights-b-misfit":
        assert "does not fit digits_cnn" in lines[-1] and "--weights-b" in lines[-1]
    if case == "layer-in-a-only":
        assert "--layer-b" in lines[-1]


def test_the_command_writes_the_picture_and_the_summary(images, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["diff", "--model", "digits_cnn", "--layer", "layer1", "--images", str(images), "--out", str(out),
                 "--limit", "12", "--layout", "pca", "--no-icons", "--no-attribution", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "held-out R² 1.000" in capsys.readouterr().out
    summary = json.loads((out / "diff.json").read_text())
    assert summary["model_b"] == summary["model_a"] == "digits_cnn" and summary["num_activations"] == 12 * 16
    assert (out / "diff.png").is_file() and (out / "aligned" / ".diff-collect-state.json").is_file()
    from deepscope.cli.diff_cmd import ICON_WORK
    from deepscope.diff import DIFF_ICONS

    assert ICON_WORK == {"steps": DIFF_ICONS.steps, "attempts": DIFF_ICONS.attempts}  # what --help says


def test_a_site_with_a_second_model_has_the_diff_page(digits, reinitialized, images, tmp_path):
    from deepscope.app import SiteConfig, build_site

    cfg = SiteConfig(layers=["layer3"], channels=[0], fv_size=32, fv_steps=2, variants=0, top=1, atlas=False,
                     atlas_layout="pca", icon_size=32, icon_steps=2, saliency_images=0, sanity_images=0, limit=12)
    summary = build_site(digits, tmp_path, cfg, images=images, progress=False, model_b=reinitialized)
    assert "diff" in summary["stages_run"]
    page = (tmp_path / "diff.html").read_text()
    result = json.loads((tmp_path / "diff" / "diff.json").read_text())
    assert result["model_b"] == "digits_cnn [layer2 re-initialized]" and result["layer_b"] == "layer3"
    assert f'{result["map"]["heldout_r2"]:.3f}' in page and 'src="diff/diff.png"' in page
    assert 'href="diff.html"' in (tmp_path / "index.html").read_text()


def test_a_site_whose_second_model_lacks_the_layer_stops_before_any_stage(digits, images, tmp_path):
    from deepscope.app import SiteConfig, build_site
    from deepscope.errors import DeepscopeError

    with pytest.raises(DeepscopeError, match="give --layers a layer both models have"):
        build_site(digits, tmp_path, SiteConfig(layers=["layer2"]), images=images, progress=False,
                   model_b=load_model("digits_vit"))
    assert not (tmp_path / ".build").exists()
