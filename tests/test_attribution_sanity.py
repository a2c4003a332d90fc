"""Sanity checks reproduce the literature on the embedded model (Adebayo et al.; Nie et al.)."""
import json

import pytest
import torch

from deepscope.attribution.inputs import load_images
from deepscope.attribution.randomize import cascade, randomization_stages
from deepscope.attribution.sanity import FAIL_WORDS, PASS_WORDS, SanityConfig, run_sanity
from deepscope.cli import main
from deepscope.errors import DeepscopeError

# A fixed spread of classes (fish, bird, dog, insect, ...); 112 px keeps it fast and the result holds.
PICKS = ["n01443537_goldfish", "n01560419_bulbul", "n02099601_golden_retriever", "n02206856_bee",
         "n03028079_church", "n07747607_orange"]
METHODS = ("gradient", "guided-backprop", "deconvnet", "grad-cam")


@pytest.fixture(scope="module")
def report(model, imagenet_samples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("picks")
    for name in PICKS:
        (folder / f"{name}.JPEG").write_bytes((imagenet_samples / f"{name}.JPEG").read_bytes())
    images, _, _ = load_images(folder, 112)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = run_sanity(model, images, SanityConfig(methods=METHODS))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "trained model was modified"
    return result


def _stage(report, method, stage):
    return next(s for s in report["methods"][method]["cascade"] if s["stage"] == stage)


def test_stages_from_the_logits_down(model, report):
    assert report["cascade_order"][:3] == ["classifier", "conv_head+bn2", "blocks.6"]
    assert report["cascade_order"][-1] == "conv_stem+bn1"
    assert [s.name for s in randomization_stages(model)] == report["cascade_order"][::-1]


def test_gradient_and_grad_cam_change_guided_backprop_does_not(report):
    for stage in ("blocks.6", "blocks.5"):  # the top blocks randomized
        guided = _stage(report, "guided-backprop", stage)
        for method in ("gradient", "grad-cam"):
            other = _stage(report, method, stage)
            for metric in ("spearman_abs", "ssim"):
                assert other[metric] < guided[metric] - 0.3, (stage, method, metric, other[metric], guided[metric])
    assert _stage(report, "guided-backprop", "blocks.5")["spearman_abs"] > 0.8
    verdicts = {m: e["randomization"] for m, e in report["methods"].items()}
    assert verdicts["gradient"]["passes"] and verdicts["grad-cam"]["passes"]
    assert not verdicts["guided-backprop"]["passes"]
    assert verdicts["gradient"]["verdict"].startswith(PASS_WORDS)
    assert verdicts["guided-backprop"]["verdict"].startswith(FAIL_WORDS)


def test_random_mask_control_scores_near_zero(report):
    control = report["random_mask_control"]
    assert control["max_abs_spearman"] < 0.05
    assert abs(control["mean"]["spearman_abs"]) < 0.05 and abs(control["mean"]["spearman_signed"]) < 0.05


def test_class_sensitivity(report):
    flags = {m: e["class_sensitivity"]["class_insensitive"] for m, e in report["methods"].items()}
    assert flags["guided-backprop"] and flags["deconvnet"]
    assert not flags["gradient"]
    assert report["methods"]["gradient"]["class_sensitivity"]["spearman_abs"] < 0.7
    assert all(r["index"] != t["index"] for r, t in zip(report["random_classes"], report["targets"]))


def test_report_is_plain_json_with_a_verdict_per_method(report):
    again = json.loads(json.dumps(report))
    assert set(again["methods"]) == set(METHODS)
    for entry in again["methods"].values():
        assert entry["randomization"]["verdict"] and entry["class_sensitivity"]["verdict"]
        assert len(entry["cascade"]) == len(again["cascade_order"]) == 10


def test_cascade_leaves_the_model_alone(model):
    first = next(iter(model.net.classifier.parameters())).clone()
    stage, randomized = next(cascade(model, seed=1))
    assert stage.name == "classifier"
    assert torch.equal(next(iter(model.net.classifier.parameters())), first)
    assert not torch.equal(next(iter(randomized.net.classifier.parameters())), first)


def test_cli_sanity(imagenet_samples, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in PICKS[:2]:
        (folder / f"{name}.JPEG").write_bytes((imagenet_samples / f"{name}.JPEG").read_bytes())
    out = tmp_path / "out"
    assert main(["sanity", "--images", str(folder), "-n", "2", "--method", "gradient", "--size", "64",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "gradient" in printed and "random-mask control" in printed
    saved = json.loads((out / "sanity.json").read_text())
    assert saved["images"] == 2 and len(saved["methods"]["gradient"]["cascade"]) == 10
    assert (out / "cascade.png").stat().st_size > 0 and (out / "class_sensitivity.png").stat().st_size > 0


def test_cli_sanity_bad_input(imagenet_samples, tmp_path, capsys):
    assert main(["sanity", "--images", str(imagenet_samples), "--method", "grad-cam", "--layer", "blocks.99",
                 "--out", str(tmp_path)]) == 2
    assert "unknown layer" in capsys.readouterr().err
    assert main(["sanity", "--images", str(imagenet_samples), "--method", "smoothgrd", "--out", str(tmp_path)]) == 2
    assert "close matches: smoothgrad" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["sanity", "--images", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no image files" in capsys.readouterr().err


def test_sanity_rejects_unknown_layer(model):
    with pytest.raises(DeepscopeError, match="unknown layer"):
        run_sanity(model, torch.rand(1, 3, 64, 64), SanityConfig(methods=["grad-cam"], layer="nope"))


def test_sanity_folder_is_the_job_of_the_cli_and_the_site(imagenet_samples, model, tmp_path, capsys):
    from deepscope.attribution import sanity_folder

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / f"{PICKS[0]}.JPEG").write_bytes((imagenet_samples / f"{PICKS[0]}.JPEG").read_bytes())
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    report = sanity_folder(model, folder, out, SanityConfig(methods=["gradient"]), count=2, size=64, quiet=True,
                           file_label=lambda f: f.name)
    assert report["files"] == [f"{PICKS[0]}.JPEG"] and report["skipped_count"] == 1
    assert report["skipped"] == [] and str(tmp_path) not in json.dumps(report)  # quiet: no local paths
    assert capsys.readouterr().err == ""
    assert json.loads((out / "sanity.json").read_text())["files"] == report["files"]
    assert (out / "cascade.png").exists() and (out / "class_sensitivity.png").exists()
    with pytest.raises(DeepscopeError, match="--num-images must be at least 1"):
        sanity_folder(model, folder, out, count=0)
