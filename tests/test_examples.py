"""Top-k dataset examples: exact top-k, resume, receptive fields, deconvnet, bad input, CLI."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from helpers import awkward_images, kill_when, sample_folder
from torch import nn

from deepscope.cli import main
from deepscope.data import image_files, load_image_resized
from deepscope.errors import DeepscopeError
from deepscope.examples import TopK, collect_top_examples, dataset_examples, project_units, receptive_field
from deepscope.examples.receptive_field import gradient_support
from deepscope.models import activations, from_module

LAYER, SIZE = "blocks.2", 128


@pytest.fixture(scope="module")
def folder(imagenet_samples, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("examples-images")
    sample_folder(imagenet_samples, base / "imgs", 14, step=37)
    return base / "imgs"


def test_topk_update_keeps_earlier_image_on_ties_and_pads():
    topk = TopK.empty([0, 1], k=3)
    acts = torch.tensor([[[[1.0, 5.0]], [[2.0, 2.0]]], [[[5.0, 0.0]], [[3.0, 1.0]]]])  # (2 images, 2 ch, 1, 2)
    topk = topk.update(acts, torch.tensor([7, 8]))
    assert topk.images.tolist() == [[7, 8, -1], [8, 7, -1]]
    assert topk.positions[0].tolist() == [[0, 1], [0, 0], [0, 0]]
    assert topk.means[1, :2].tolist() == [2.0, 2.0]
    topk = topk.update(torch.full((1, 2, 1, 2), 5.0), torch.tensor([9]))
    assert topk.images[0].tolist() == [7, 8, 9]  # equal scores: earlier images first
    assert topk.images[1].tolist() == [9, 8, 7]


def test_top_examples_are_the_brute_force_top_k(model, folder):
    files = image_files(folder)
    channels = list(range(0, 40, 4))
    got = collect_top_examples(model, LAYER, files, channels=channels, k=4, size=SIZE, batch_size=5,
                               progress=False)
    assert got.finished and got.read == len(files)
    # Brute force: every image alone, every channel's spatial max, a full stable sort.
    scores = []
    for f in files:
        act = activations(model, load_image_resized(f, SIZE)[None], [LAYER])[LAYER][0, channels]
        scores.append(act.flatten(1).amax(1))
    scores = torch.stack(scores)  # (N, C)
    for row, _ in enumerate(channels):
        order = torch.sort(scores[:, row], descending=True, stable=True).indices[:4]
        assert got.topk.images[row].tolist() == order.tolist()
        torch.testing.assert_close(got.topk.scores[row], scores[order, row], atol=1e-4, rtol=1e-4)
        best = got.topk.images[row, 0].item()
        act = activations(model, load_image_resized(files[best], SIZE)[None], [LAYER])[LAYER][0, channels[row]]
        y, x = got.topk.positions[row, 0].tolist()
        assert act[y, x] == act.max()
        assert got.topk.means[row, 0].item() == pytest.approx(act.mean().item(), rel=1e-4, abs=1e-5)


def test_interrupted_pass_resumes_to_the_uninterrupted_result(model, folder, tmp_path):
    files = image_files(folder)
    kwargs = {"channels": list(range(8)), "k": 3, "size": 96, "batch_size": 3, "progress": False, "checkpoint_seconds": 0}
    whole = collect_top_examples(model, LAYER, files, **kwargs)

    class Interrupt(Exception):
        pass

    def stop_in_the_second_batch(done):
        if done >= 6:  # after merging batch 2, before its checkpoint: as if killed there
            raise Interrupt

    state = tmp_path / "state.pt"
    with pytest.raises(Interrupt):
        collect_top_examples(model, LAYER, files, state_path=state, on_batch=stop_in_the_second_batch, **kwargs)
    seen = []
    resumed = collect_top_examples(model, LAYER, files, state_path=state, on_batch=seen.append, **kwargs)
    assert seen == [6, 9, 12, 14]  # continued after the one checkpointed batch
    for name in ("scores", "means", "images", "positions"):
        assert torch.equal(getattr(resumed.topk, name), getattr(whole.topk, name)), name

    def no_work(_):
        raise AssertionError("a finished pass must not process images again")

    again = collect_top_examples(model, LAYER, files, state_path=state, on_batch=no_work, **kwargs)
    assert torch.equal(again.topk.images, whole.topk.images)


def test_killed_cli_run_resumes_to_the_same_examples_json(folder, tmp_path):
    args = ["examples", "--layer", LAYER, "--images", str(folder), "--channels", "0-5", "--top", "3",
            "--size", "96", "--batch", "2", "--deconv", "0", "--checkpoint-seconds", "0", "--no-progress",
            "--threads", "1"]
    cmd = [sys.executable, "-c", "import sys; from deepscope.cli import main; sys.exit(main(sys.argv[1:]))"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    state = killed / ".examples-state.pt"
    kill_when(cmd + args + ["--out", str(killed)], state.exists, timeout=120)
    assert main(args + ["--out", str(killed)]) == 0
    assert main(args + ["--out", str(whole)]) == 0
    a = json.loads((killed / "examples.json").read_text())
    b = json.loads((whole / "examples.json").read_text())
    assert a["channels"] == b["channels"]


def test_receptive_field_matches_the_analytic_one():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                        nn.ReLU6(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
    model = from_module(net, name="toy")
    # jump 1 -> 1 -> 2 -> 2 -> 4; size 3 -> 4 -> 8 -> 12
    rf = receptive_field(model, "5", size=32)
    assert rf.grid == (8, 8) and rf.size == 12 and rf.stride == 4
    # unit 4 of the last conv reads 7..9 of conv 2, which reads 6..10 of the pool, which reads 12..21 of
    # conv 1, which reads input 11..22; unit 0: -1..1 -> -1..2 -> 0..5 -> -1..6, clipped to 0..6.
    assert rf.box(4, 4) == (11, 11, 23, 23)
    assert rf.box(0, 0) == (0, 0, 7, 7)


def test_receptive_field_of_the_real_model_is_separable_and_exact(model):
    stem = receptive_field(model, "conv_stem")
    assert stem.size == 3 and stem.stride == 2  # 3x3 conv, stride 2, TF 'same' padding at the end
    rf = receptive_field(model, LAYER, SIZE)
    for y, x in [(3, 11), (15, 2)]:
        mask = gradient_support(model, LAYER, [(y, x)], SIZE, seed=5)[0]
        left, top, right, bottom = rf.box(y, x)
        assert mask[top:bottom, left:right].all() and mask.sum() == (bottom - top) * (right - left)


def test_deconvnet_projection_differs_from_the_gradient_and_stays_in_the_field(model, folder):
    image = load_image_resized(image_files(folder)[0], SIZE)[None]
    act = activations(model, image, [LAYER])[LAYER][0]
    channel = int(act.flatten(1).amax(1).argmax())
    y, x = divmod(int(act[channel].argmax()), act.shape[-1])
    deconv = project_units(model, LAYER, image, [channel], [(y, x)])[0]
    grad = project_units(model, LAYER, image, [channel], [(y, x)], rule=None)[0]
    cosine = torch.nn.functional.cosine_similarity(deconv.flatten(), grad.flatten(), dim=0).item()
    assert deconv.abs().sum() > 0 and cosine < 0.8
    left, top, right, bottom = receptive_field(model, LAYER, SIZE).box(y, x)
    outside = deconv.clone()
    outside[:, top:bottom, left:right] = 0
    assert outside.abs().max() == 0


def test_bad_images_are_skipped_and_counted_never_fatal(model, imagenet_samples, tmp_path):
    folder = tmp_path / "odd"
    readable = awkward_images(folder, next(iter(sorted(imagenet_samples.glob("*.JPEG")))))
    report = dataset_examples(model, LAYER, image_files(folder), tmp_path / "out", channels=[0, 1], k=2, size=64,
                              batch_size=3, deconv=1, progress=False)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["files"]["skipped"]}
    assert set(skipped) == {n for n, ok in readable.items() if not ok}
    assert report["files"]["read"] == sum(readable.values())
    assert "decompression bomb" in skipped["huge.png"] or "too large" in skipped["huge.png"]
    assert "truncated" in skipped["truncated.jpg"] and "need at least" in skipped["tiny.png"]
    for channel in report["channels"]:
        assert {Path(e["image"]).name for e in channel["examples"]} <= {n for n, ok in readable.items() if ok}


def test_unreadable_or_empty_folders_give_clear_errors(model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["examples", "--layer", LAYER, "--images", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "o1")]) == 2
    assert "no image files" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"nope")
    (bad / "b.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DeepscopeError, match="none of the 2 image files"):
        dataset_examples(model, LAYER, image_files(bad), tmp_path / "o2", channels=[0], progress=False)


def test_cli_writes_sheets_json_and_picks_up_feature_visualizations(folder, tmp_path, capsys):
    fv = tmp_path / "render"
    fv.mkdir()
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 30, 30)).save(fv / "c3.png")
    (fv / "results.json").write_text(json.dumps([{"objective": f"channel({LAYER}:3)", "score": 1.0,
                                                  "image": "c3.png"}]))
    out = tmp_path / "out"
    args = ["examples", "--layer", LAYER, "--images", str(folder), "--channels", "2-3", "--top", "4",
            "--size", "96", "--fv-dir", str(fv), "--no-progress", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "examples.json").read_text())
    assert [c["channel"] for c in report["channels"]] == [2, 3]
    assert report["channels"][1]["feature_visualization"].endswith("c3.png")
    assert report["channels"][0]["feature_visualization"] is None
    for channel in report["channels"]:
        assert (out / channel["sheet"]).is_file() and len(channel["examples"]) == 4
        scores = [e["score"] for e in channel["examples"]]
        assert scores == sorted(scores, reverse=True)
        top = channel["examples"][0]
        assert top["deconv"] and len(top["box"]) == 4 and len(top["box_original"]) == 4
        assert top["mean"] <= top["score"]
    assert "spatial max" in report["score"] and (out / "overview.png").is_file()
    before = (out / "examples.json").stat().st_mtime_ns
    assert main(args) == 0  # finished: nothing is redone
    assert (out / "examples.json").stat().st_mtime_ns == before
    assert main(["examples", "--layer", LAYER, "--images", str(folder), "--channels", "999",
                 "--out", str(out)]) == 2
    assert "out of range" in capsys.readouterr().err


def test_with_fv_renders_beside_the_examples(model, folder, tmp_path):
    report = dataset_examples(model, LAYER, image_files(folder)[:4], tmp_path, channels=[1], k=2, size=64,
                              with_fv=True, fv_size=32, fv_steps=2, progress=False)
    assert report["channels"][0]["feature_visualization"].startswith("fv/")
    assert (tmp_path / "fv" / "results.json").is_file()
