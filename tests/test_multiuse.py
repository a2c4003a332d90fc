"""`deepscope multiuse`: class support against a brute-force computation, a planted dual-role channel
ranked first, relatedness from the classifier's rows, the patch test's >= 10-point rule (both
outcomes, on a model a red patch flips), a small real run on the digits CNN that resumes, bad input."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.cli import main
from deepscope.errors import DeepscopeError
from deepscope.jobs import Job
from deepscope.models import from_module
from deepscope.probes.flips import FlipResult
from deepscope.probes.image_set import ImageSet
from deepscope.probes.multiuse import (
    MultiuseRequest,
    ValidationSettings,
    Validator,
    cell_support,
    channel_support,
    class_cosines,
    judge,
    rank_units,
)
from deepscope.probes.multiuse.units import channel_units


def test_class_support_equals_a_brute_force_computation():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(120, 5)).astype(np.float32)
    attr = rng.normal(size=(120, 7)).astype(np.float16)
    support, rows = channel_support(acts, attr, top=9)
    baseline = attr.astype(np.float64).mean(0)
    for k in range(5):
        best = sorted(range(120), key=lambda r: -acts[r, k])[:9]
        assert list(rows[k]) == best
        weights = np.array([max(acts[r, k], 0) for r in best], dtype=np.float64)
        expected = sum(w * attr[r].astype(np.float64) for w, r in zip(weights, best)) / weights.sum() - baseline
        np.testing.assert_allclose(support[k], expected, rtol=1e-5, atol=1e-5)
    members = [np.array([0, 5, 7]), np.arange(10, 40)]
    expected = [attr[m].astype(np.float64).mean(0) - baseline for m in members]
    np.testing.assert_allclose(cell_support(members, attr), expected, rtol=1e-5, atol=1e-5)


def _classifier(rows: np.ndarray):
    """A model whose classifier layer has the weight rows `rows` (one class per row)."""
    head = nn.Linear(rows.shape[1], len(rows))
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(rows, dtype=torch.float32))
    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, rows.shape[1]), head)
    return from_module(net, mean=(0, 0, 0), std=(1, 1, 1), input_size=32,
                       classes=[f"class{i}" for i in range(len(rows))])


# classes 0 and 1 are siblings, 3 and 4 too; 2 and 5 are unrelated to everything
CLASS_ROWS = np.array([[1, 0, 0, 0, 0, 0], [1, .4, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0],
                       [0, 0, 0, 1, 0, 0], [0, 0, 0, 1, .3, 0], [0, 0, 0, 0, 0, 1]], dtype=np.float32)


def test_relatedness_is_the_cosine_of_the_classifier_rows():
    model = _classifier(CLASS_ROWS)
    cos = class_cosines(model, 6)
    unit = CLASS_ROWS / np.linalg.norm(CLASS_ROWS, axis=1, keepdims=True)
    np.testing.assert_allclose(cos, unit @ unit.T, atol=1e-6)
    assert cos[0, 1] > 0.9 and cos[0, 2] == pytest.approx(0) and cos[3, 4] > 0.9
    with pytest.raises(DeepscopeError, match="has 6 outputs but the store attributes to 10"):
        class_cosines(model, 10)
    headless = from_module(nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    with pytest.raises(DeepscopeError, match="no classifier layer"):
        class_cosines(headless, 4)


def test_a_planted_dual_role_channel_is_ranked_first():
    """Channel 5 fires on positions that push class 0 and on others that push class 2 (unrelated);
    decoys support one class strongly, or two sibling classes even more strongly."""
    rng = np.random.default_rng(1)
    n, channels, classes = 600, 8, 6
    acts = rng.uniform(0, 0.2, size=(n, channels)).astype(np.float32)
    attr = rng.normal(0, 0.05, size=(n, classes)).astype(np.float32)

    def plant(channel: int, rows: slice, pushed: dict):
        acts[rows, channel] += 3.0
        for c, value in pushed.items():
            attr[rows, c] += value

    plant(5, slice(0, 30), {0: 1.0})
    plant(5, slice(30, 60), {2: 1.0})  # the dual-role unit
    plant(1, slice(100, 160), {0: 2.0, 1: 2.0})  # siblings: strong, but related
    plant(2, slice(200, 260), {3: 3.0})  # one class only
    plant(3, slice(300, 360), {3: 1.5, 4: 1.5})  # siblings
    units = channel_units(acts, attr.astype(np.float16), 60, np.arange(n))
    ranked = rank_units(units, class_cosines(_classifier(CLASS_ROWS), classes), k=3)
    first = ranked[0]
    assert (first.kind, first.index, set(first.pair)) == ("channel", 5, {0, 2})
    assert first.classes()[:2] == list(first.pair)
    decoy = next(u for u in ranked if u.index == 1)
    assert set(decoy.top[:2]) == {0, 1} and decoy.score < first.score


def _colour_model():
    """Logits from the mean colour: class 0 'red' = 10(r - (g+b)/2), 1 'green' likewise, 2 'grey' = 1."""
    head = nn.Linear(3, 3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[10., -5, -5], [-5, 10, -5], [0, 0, 0]]))
        head.bias.copy_(torch.tensor([0., 0, 1]))
    return from_module(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), head), mean=(0, 0, 0),
                       std=(1, 1, 1), input_size=32, classes=["red", "green", "grey"])


def test_a_patch_is_validated_only_when_it_beats_noise_by_ten_points(tmp_path):
    images = (0.5 + 0.05 * torch.randn(20, 3, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    held = ImageSet([tmp_path / f"{i}.png" for i in range(20)], images.mul(255).round().to(torch.uint8), [None] * 20)
    validator = Validator(_colour_model(), held, Job(tmp_path, "multiuse", {}), ValidationSettings(batch=10),
                          progress=False)
    red = torch.zeros(3, 16, 16)
    red[0] = 1
    record = validator.validate("red", red, [0, 1])
    by_class = {e["class"]: e for e in record["classes"]}
    assert by_class[0]["patch"]["best_rate"] == 1.0 and by_class[0]["noise"]["best_rate"] == 0.0
    assert by_class[0]["validated"] and not by_class[1]["validated"]
    assert record["validated"] and not record["dual_validated"]
    grey = validator.validate("grey", torch.full((3, 16, 16), 0.5), [0, 1])
    assert not grey["validated"] and all(e["margin"] == 0 for e in grey["classes"])
    # the rule at its edge: 9 points over noise is not enough, 10 is
    names = ["p"]
    noise = FlipResult(names, list(range(100)), torch.arange(100)[:, None] < 21)
    assert not judge(FlipResult(names, list(range(100)), torch.arange(100)[:, None] < 30), noise)["validated"]
    assert judge(FlipResult(names, list(range(100)), torch.arange(100)[:, None] < 31), noise)["validated"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A fresh collection and search on 40 digits (digits CNN), and its arguments."""
    from deepscope.models.digits import digits_images, write_digit_images

    root = tmp_path_factory.mktemp("multiuse")
    images, labels = digits_images()
    write_digit_images(root / "digits", images[:40], labels[:40])
    args = ["multiuse", "--model", "digits_cnn", "--layer", "layer3", "--images", str(root / "digits"),
            "--positions", "3", "--layout", "pca", "--grid", "4", "--threshold", "2", "--size", "32", "--steps", "4",
            "--test-images", "8", "--ratios", "0.4,0.7", "--top", "3", "--unrelated", "0.5", "--out", str(root / "out"), "--no-progress"]
    assert main(args) == 0
    return root, args


def test_fresh_collection_writes_the_ranked_table_and_resumes(digits_run, monkeypatch, capsys):
    root, args = digits_run
    out = root / "out"
    report = json.loads((out / "multiuse.json").read_text())
    scores = [u["score"] for u in report["ranking"]]
    assert scores == sorted(scores, reverse=True) and report["units"]["channels"] == 128
    assert report["images"] == {"selection": 20, "held_out": 20} and report["test_images"] == 8
    assert 1 <= len(report["candidates"]) <= 3
    for row in report["candidates"]:
        assert (out / row["sheet"]).is_file() and row["flagged"]
        for entry in row["validation"]["classes"]:
            assert entry["validated"] == (entry["patch"]["best_rate"] - entry["noise"]["best_rate"] >= 0.1 - 1e-9)
    assert "| rank | unit |" in (out / "multiuse.md").read_text()

    def refuse(*_, **__):
        raise AssertionError("a finished patch test ran again")

    monkeypatch.setattr("deepscope.probes.multiuse.validation.pasted_top1", refuse)
    monkeypatch.setattr("deepscope.render.driver.render_batch", refuse)
    capsys.readouterr()
    assert main(args) == 0
    again = json.loads((out / "multiuse.json").read_text())
    assert again["candidates"] == report["candidates"]
    assert "candidates validated" in capsys.readouterr().out


def test_bad_input_is_one_clear_line(digits_run, tmp_path, capsys):
    from deepscope.atlas import collect
    from deepscope.models import load_model

    root, _ = digits_run
    bare = tmp_path / "bare"
    collect(load_model("digits_cnn"), "layer3", root / "digits", bare, positions=2, limit=8, progress=False)
    store = str(root / "out" / "activations")
    cases = [
        (["--atlas-store", str(bare)], "without attribution: recollect it with attribution"),
        (["--atlas-store", store, "--top", "100000", "--layout", "pca"], "--top 100000 is out of range"),
        (["--atlas-store", store, "--top", "0"], "argument --top"),
        (["--atlas-store", store, "--model", "digits_vit"], "run with --model digits_cnn"),
        (["--atlas-store", store, "--images", str(root / "digits")], "not both"),
        ([], "give --atlas-store STORE"),
        (["--atlas-store", str(tmp_path)], "is not an activation store"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        base = ["multiuse", "--model", "digits_cnn"] if "--model" not in extra else ["multiuse"]
        assert main(base + extra + ["--out", str(tmp_path / "o"), "--no-progress"]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and "Traceback" not in err, (extra, err)


def test_help_defaults_are_the_request_defaults():
    from deepscope.cli.defaults import MULTIUSE

    request = MultiuseRequest()
    assert MULTIUSE == {k: getattr(request, k) for k in MULTIUSE}
