"""Patch attacks: pasting, flip bookkeeping, pair choice, the class-difference direction, and a small
real run on the embedded model (resumable, with figure and report)."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.cli import main
from deepscope.models import from_module
from deepscope.probes.flips import FlipResult, flip_hits
from deepscope.probes.image_set import ImageSet, labels_from_names, load_image_set, predict
from deepscope.probes.paste import NoisePatch, Placement, paste, placements
from deepscope.probes.patch_pairs import confusable_pairs, eligible_rows
from deepscope.probes.patch_sources import RenderSettings, RenderSource, class_difference_direction


def test_placements_and_paste_geometry():
    places = placements()
    assert len(places) == 12 and places[0] == Placement(0.2, "top_left")
    images = torch.zeros(2, 3, 100, 100)
    patch = torch.ones(3, 10, 10)
    out = paste(images, patch, Placement(0.4, "bottom_right"))
    assert images.sum() == 0  # input untouched
    assert out[:, :, 60:, 60:].min() == 1 and out.sum() == 2 * 3 * 40 * 40
    out = paste(images, patch, Placement(0.2, "top_right"))
    assert out[0, 0, :20, 80:].min() == 1 and out[0, 0, 20:, :].sum() == 0
    with pytest.raises(ValueError):
        placements(corners=["middle"])


def test_noise_patch_is_drawn_at_the_pasted_size_and_fixed_by_seed():
    noise = NoisePatch(3)
    assert noise(45).shape == (3, 45, 45) and torch.equal(noise(45), NoisePatch(3)(45))
    assert not torch.equal(noise(45), NoisePatch(4)(45))
    pasted = paste(torch.zeros(1, 3, 224, 224), noise, Placement(0.2, "top_left"))
    assert torch.equal(pasted[0, :, :45, :45], noise(45))  # no resampling blur of the noise


def test_flip_result_summaries():
    hits = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)
    result = FlipResult(["p0", "p1", "p2"], [10, 11, 12, 13], hits)
    assert result.best_rate == 0.75
    assert result.fixed == ("p2", 0.5)
    assert result.flipped_rows() == [10, 11, 12]
    assert result.as_dict()["flipped_best"] == 3


def test_eligibility_and_confusable_pairs():
    before = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.1, 0.7], [0.5, 0.45, 0.05]])
    labelled = ImageSet([], torch.zeros(4, 3, 2, 2, dtype=torch.uint8), [0, 1, 2, 1])
    assert eligible_rows(labelled, before, 0, 1, "universal") == [0, 2, 3]
    assert eligible_rows(labelled, before, 0, 1, "targeted") == [0]  # image 3 is predicted 0 but labelled 1
    unlabelled = ImageSet([], labelled.images, [None] * 4)
    assert eligible_rows(unlabelled, before, 0, 1, "targeted") == [0, 3]
    pairs = confusable_pairs(before, 2)
    assert [(p["a"], p["b"]) for p in pairs] == [(0, 1), (1, 2)]
    assert pairs[0]["confusion"] == pytest.approx(0.75)


def test_labels_from_file_names(tmp_path):
    classes = ["tench", "goldfish", "great white shark"]
    paths = [tmp_path / "n01484850_great_white_shark.JPEG", tmp_path / "x_goldfish.png", tmp_path / "other.png"]
    assert labels_from_names(paths, classes) == [2, None, None]
    assert labels_from_names([tmp_path / "goldfish.png"], classes) == [1]


def test_class_difference_direction_is_the_classifier_weight_difference():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))
    model = from_module(net, mean=(0, 0, 0), std=(1, 1, 1))
    vec = class_difference_direction(model, "0", 0, 3, torch.rand(5, 3, 12, 12))
    weights = net[3].weight.detach()
    # d(logit_3 - logit_0)/dh at each of the 10x10 positions is (W_3 - W_0) / 100.
    assert torch.allclose(vec, (weights[3] - weights[0]) / 100, atol=1e-7)
    assert all(p.requires_grad for p in net.parameters())  # weights unfrozen again afterwards


def test_a_real_image_of_the_target_flips_more_than_noise(tmp_path, model, imagenet_samples):
    """Flip machinery on real semantics: the scuba-diver sample pasted over the whole image is always
    a scuba diver; same-size noise never makes one (a real photo at 0.7 is a weak patch: ~5%)."""
    from deepscope.data import image_files

    for f in image_files(imagenet_samples)[::100]:
        (tmp_path / f.name).symlink_to(f)
    images = load_image_set(tmp_path, model, progress=False)
    from deepscope.data import load_image_resized

    target_image = load_image_resized(imagenet_samples / "n10565667_scuba_diver.JPEG", 224)
    big = placements(ratios=[0.7, 1.0], corners=["top_left", "bottom_right"])
    rows = list(range(len(images)))
    patch = flip_hits(model, images, rows, target_image, 983, big, progress=False)
    noise = flip_hits(model, images, rows, NoisePatch(0), 983, big, progress=False)
    assert len(rows) == 10 and patch.per_placement()["1@top_left"] == 1.0
    assert patch.per_placement()["1@bottom_right"] == 1.0 and noise.hits.sum() == 0


def test_small_experiment_end_to_end_resumes(tmp_path, model, imagenet_samples):
    from deepscope.probes.patch_run import PatchExperiment, PatchSettings

    images = load_image_set(imagenet_samples, model, limit=12, progress=False)
    render = RenderSettings(size=48, steps=8, progress=False)
    source = RenderSource("blocks.5", images.batch(0, 4), render)
    settings = PatchSettings(mode="universal", ratios=[0.7], screen=4, batch_size=4, progress=False)
    report = PatchExperiment(model, images, [source], tmp_path, settings).run([(0, 1)])
    pair = report["pairs"][0]
    assert pair["names"] == ["tench", "goldfish"] and pair["eligible"] == sum(
        int(i) != 1 for i in predict(model, images, progress=False).argmax(1))
    assert {c["name"] for c in pair["candidates"]} == {"logit_difference", "direction_blocks.5"}
    assert pair["best"]["eligible"] == pair["eligible"] and len(pair["best"]["per_placement"]) == 4
    assert 0.0 <= report["pooled"]["noise"]["best_rate"] <= 1.0
    assert (tmp_path / "patches.png").exists() and (tmp_path / pair["candidates"][0]["png"]).exists()
    assert json.loads((tmp_path / "report.json").read_text())["pairs"][0]["best"] == pair["best"]

    def refuse(*_):
        raise AssertionError("a resumed run must not render again")
    again = PatchExperiment(model, images, [refuse], tmp_path, settings).run([(0, 1)])
    assert again["pairs"][0]["best"] == pair["best"]


def test_cli_errors(tmp_path, capsys):
    assert main(["patch", "--images", str(tmp_path), "--from", "tench", "--out", str(tmp_path / "o")]) == 2
    assert "give both --from and --to" in capsys.readouterr().err
    assert main(["patch", "--images", str(tmp_path), "--ratios", "0.2,2", "--out", str(tmp_path / "o")]) == 2
    assert "--ratios" in capsys.readouterr().err


def test_atlas_source_uses_the_two_class_comparison(tmp_path, model, imagenet_samples):
    """Icons of the cells leaning to B, plus one render of their combined direction (tiny settings)."""
    from deepscope.atlas import collect
    from deepscope.data import image_files
    from deepscope.probes.patch_sources import AtlasSource

    for f in image_files(imagenet_samples)[:8]:
        (tmp_path / f.name).symlink_to(f)
    store = collect(model, "blocks.5", tmp_path, tmp_path / "store", positions=2, attribution=True,
                    progress=False, workers=1)
    source = AtlasSource(store, cells=2, grid=3, threshold=1, icon_size=32, icon_steps=4,
                         settings=RenderSettings(size=32, steps=4, progress=False))
    candidates = source(model, 0, 1)
    assert candidates and candidates[-1].name == "atlas_class_direction"
    icons = candidates[:-1]
    assert 1 <= len(icons) <= 2 and all(c.source == "atlas" and c.image.shape == (3, 32, 32) for c in icons)
    assert all(c.info["x"] > 0 for c in icons)  # every icon comes from a cell leaning to class B
    comparison = source.comparisons[(0, 1)]
    assert comparison.names == ("tench", "goldfish")
    side = [list(c.grid) for c in comparison.cells() if c.x > 0]
    assert sorted(candidates[-1].info["span_cells"]) == sorted(side)  # restricted to the B-side cells
    top = sorted(comparison.cells(), key=lambda c: -c.x)[:5]
    expected = np.mean([c.attribution_b - c.attribution_a for c in top if c.x > 0])
    assert source.support(model, 0, 1) == pytest.approx(expected)


def test_cli_runs_a_tiny_universal_experiment(tmp_path, imagenet_samples, capsys):
    from deepscope.data import image_files

    folder = tmp_path / "images"
    folder.mkdir()
    for f in image_files(imagenet_samples)[:6]:
        (folder / f.name).symlink_to(f)
    args = ["patch", "--images", str(folder), "--from", "tench", "--to", "goldfish", "--mode", "universal",
            "--size", "32", "--steps", "4", "--screen", "2", "--ratios", "0.7", "--threads", "1",
            "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 0
    assert "tench -> goldfish (universal, 5 images)" in capsys.readouterr().out  # the goldfish image is not counted
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["pair_choice"] == "user" and report["placements"] == [
        "0.7@top_left", "0.7@top_right", "0.7@bottom_left", "0.7@bottom_right"]
    assert {c["name"] for c in report["pairs"][0]["candidates"]} == {"logit_difference", "direction_blocks.5"}


class _StubAtlas:
    """An atlas source with fixed comparison support and one solid-colour 'atlas' candidate per pair."""

    def __init__(self, support: dict):
        self.support_by_pair, self.asked = support, []

    def support(self, _model, a, b):
        self.asked.append((a, b))
        return self.support_by_pair.get((a, b), 0.0)

    def __call__(self, _model, a, b):
        from deepscope.probes.patch_sources import PatchCandidate

        return [PatchCandidate("atlas_solid", torch.full((3, 16, 16), 0.5), "atlas")]


def test_automatic_pairs_are_ranked_by_their_two_class_comparison(tmp_path, model, imagenet_samples):
    from deepscope.probes.patch_run import POOL_PER_PAIR, PatchExperiment, PatchSettings

    images = load_image_set(imagenet_samples, model, limit=12, progress=False)
    settings = PatchSettings(mode="universal", ratios=[0.4], screen=2, auto_pairs=1, batch_size=4, progress=False)
    experiment = PatchExperiment(model, images, [], tmp_path, settings)
    pool = confusable_pairs(experiment.before, POOL_PER_PAIR)
    assert len(pool) > 1
    favourite = (pool[-1]["a"], pool[-1]["b"])  # the least confusable of the pool, best supported by the atlas
    stub = _StubAtlas({favourite: 1.0})
    experiment.sources = [stub]
    report = experiment.run()
    assert set(stub.asked) == {(p["a"], p["b"]) for p in pool}  # every pooled pair's comparison was asked
    assert report["pair_choice"].startswith("auto: confusable pairs ranked by their two-class comparison")
    assert report["pair_ranking"][0]["comparison_support"] == 1.0
    assert [(p["a"], p["b"]) for p in report["considered"]] == [favourite]  # only the top-ranked pair screened
    pair = report["pairs"][0]
    assert (pair["a"], pair["b"]) == favourite and pair["best_atlas"]["name"] == "atlas_solid"
    assert report["pooled"]["atlas_patch"]["eligible"] == pair["eligible"]
    stub.asked.clear()
    again = PatchExperiment(model, images, [stub], tmp_path, settings).run()
    assert stub.asked == [] and again["pairs"][0]["best_atlas"] == pair["best_atlas"]  # resumed, nothing redone


def test_gradient_restricted_to_a_subspace_is_the_projected_gradient(model):
    """Inside restrict_gradient, d objective / d image = J^T (P g): the layer gradient g projected
    onto the span of the basis, then carried back to the image."""
    from deepscope.render.subspace import projector, restrict_gradient

    torch.manual_seed(0)
    basis = torch.randn(5, 192)
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    with restrict_gradient(model, "blocks.5", basis) as matrix:
        logits = model(x)
        restricted, = torch.autograd.grad(logits[0, 1] - logits[0, 0], x)
    assert torch.allclose(matrix, projector(basis)) and torch.allclose(matrix @ matrix, matrix, atol=1e-5)
    store = {}
    handle = model.module("blocks.5").register_forward_hook(lambda _m, _i, out: store.__setitem__("h", out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    g, = torch.autograd.grad(logits[0, 1] - logits[0, 0], store["h"], retain_graph=True)
    expected, = torch.autograd.grad(store["h"], x, grad_outputs=torch.einsum("bchw,cd->bdhw", g, matrix),
                                    retain_graph=True)
    full, = torch.autograd.grad(logits[0, 1] - logits[0, 0], x)
    assert torch.allclose(restricted, expected, atol=1e-5, rtol=1e-3)
    assert not torch.allclose(restricted, full, atol=1e-3)  # the restriction changes the gradient
