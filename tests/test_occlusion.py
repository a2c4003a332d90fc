"""Occlusion maps: documented shape, object region lowers P(class), class targets by name or index."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepscope.cli import main
from deepscope.data import load_image_resized
from deepscope.errors import DeepscopeError
from deepscope.examples.occlusion import occlusion_maps, occlusion_starts


def test_grid_shape_follows_size_and_stride(model, imagenet_samples, tmp_path):
    image = imagenet_samples / "n01443537_goldfish.JPEG"
    out = tmp_path / "occ"
    assert main(["occlusion", "--image", str(image), "--size", "64", "--stride", "40", "--target", "1",
                 "--layer", "blocks.4", "--out", str(out)]) == 0
    report = json.loads((out / "occlusion.json").read_text())
    n = (224 - 64) // 40 + 1
    assert report["square"] == {"size": 64, "stride": 40, "fill": 0.5} and report["grid"] == [n, n]
    assert np.array(report["maps"]["p_target"]).shape == (n, n)
    assert np.array(report["maps"]["label"]).shape == (n, n)
    assert np.array(report["maps"]["activation_max"]).shape == (n, n)
    assert report["target"] == {"index": 1, "name": "goldfish"}
    assert isinstance(report["activation"]["channel"], int)  # strongest channel when none is given
    arrays = np.load(out / "occlusion.npz")
    assert arrays["p_target"].shape == (n, n) and (out / "occlusion.png").is_file()
    assert occlusion_starts(224, 64, 40) == [0, 40, 80, 120, 160]


def test_occluding_the_object_lowers_p_class(model, imagenet_samples):
    """A goldfish pasted in the centre of a lakeside scene: squares over the fish hurt P(goldfish),
    squares over the scene around it do not; the real sample also loses most of its P under the worst square."""
    fish = load_image_resized(imagenet_samples / "n01443537_goldfish.JPEG", 112)
    image = load_image_resized(imagenet_samples / "n09332890_lakeside.JPEG", 224)
    image[:, 56:168, 56:168] = fish
    target = model.class_index("goldfish")
    result = occlusion_maps(model, image, size=56, stride=28, target=target)
    starts = np.array(result.starts)
    inside = (starts >= 56) & (starts + 56 <= 168)
    on_fish = result.prob[np.ix_(inside, inside)]
    off = (starts + 56 <= 56) | (starts >= 168)
    background = result.prob[np.ix_(off, off)]
    assert result.clean_prob > 0.5
    assert on_fish.mean() < 0.5 * background.mean()  # measured 0.28 vs 0.94
    assert background.mean() > 0.9 * result.clean_prob
    real = occlusion_maps(model, load_image_resized(imagenet_samples / "n01443537_goldfish.JPEG", 224), size=64,
                          stride=32, target=target)
    assert real.prob.min() < 0.75 * real.clean_prob


def test_targets_by_name_or_index_and_clear_errors(model, imagenet_samples, tmp_path, capsys):
    image = load_image_resized(imagenet_samples / "n01443537_goldfish.JPEG", 224)
    by_index = occlusion_maps(model, image, size=112, stride=112, target=model.class_index("1"))
    by_name = occlusion_maps(model, image, size=112, stride=112, target=model.class_index("Goldfish"))
    assert by_index.target == by_name.target == 1 and np.array_equal(by_index.prob, by_name.prob)
    with pytest.raises(DeepscopeError, match="does not fit"):
        occlusion_maps(model, image, size=300, stride=8)
    with pytest.raises(DeepscopeError, match="at least 1"):
        occlusion_maps(model, image, size=0, stride=8)
    path = str(imagenet_samples / "n01443537_goldfish.JPEG")
    assert main(["occlusion", "--image", path, "--target", "goldfsh", "--out", str(tmp_path)]) == 2
    assert "close matches" in capsys.readouterr().err
    assert main(["occlusion", "--image", path, "--channel", "3", "--out", str(tmp_path)]) == 2
    assert "--channel needs --layer" in capsys.readouterr().err
    assert main(["occlusion", "--image", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
