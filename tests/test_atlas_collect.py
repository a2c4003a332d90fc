"""Collection: positions, attribution, the sharded store, resume after SIGKILL, bad input."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import awkward_images, kill_when, sample_folder

from deepscope.atlas import collect, merge_stores, open_store
from deepscope.atlas.collection.forward import sample_activations, sample_with_attribution
from deepscope.atlas.collection.sampling import positions_for
from deepscope.errors import DeepscopeError

LAYER = "blocks.5"


def test_positions_are_deterministic_distinct_and_away_from_edges():
    a = positions_for(7, 5, 7, 7, margin=1, seed=3)
    assert np.array_equal(a, positions_for(7, 5, 7, 7, margin=1, seed=3))
    assert not np.array_equal(a, positions_for(8, 5, 7, 7, margin=1, seed=3))
    assert len({tuple(p) for p in a.tolist()}) == 5
    assert a.min() >= 1 and a.max() <= 5
    assert positions_for(0, 3, 2, 2, margin=1, seed=0).max() <= 1  # tiny maps fall back to margin 0


def test_attribution_matches_autograd_for_every_class(model):
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    pos = torch.tensor([[[1, 1], [0, 0]], [[0, 1], [1, 0]]])
    acts, attr = sample_with_attribution(model, LAYER, images, pos)
    assert attr.shape == (4, 1000)
    assert torch.allclose(acts, sample_activations(model, LAYER, images, pos), atol=1e-5)
    _inputs_acts, inputs_attr = sample_with_attribution(model, LAYER, images, pos, expand_at="input")
    assert torch.allclose(inputs_attr, attr, atol=1e-5)
    # reference: gradient of two logits w.r.t. the layer output, times the activation, at the position
    module = model.module(LAYER)
    saved = {}
    handle = module.register_forward_hook(lambda _m, _i, out: saved.setdefault("a", out.detach().requires_grad_()))
    try:
        logits = model(images)
    finally:
        handle.remove()
    maps = saved["a"]
    handle = module.register_forward_hook(lambda *_: maps)
    try:
        logits = model(images)
    finally:
        handle.remove()
    for row, (b, k) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        y, x = pos[b, k].tolist()
        for cls in (3, 500):
            grad = torch.autograd.grad(logits[b, cls], maps, retain_graph=True)[0]
            expected = (grad[b, :, y, x] * maps[b, :, y, x]).sum().item()
            assert attr[row, cls].item() == pytest.approx(expected, rel=1e-3, abs=1e-5)


def test_store_rows_shards_and_rerun_does_no_work(model, imagenet_samples, tmp_path, monkeypatch):
    folder = sample_folder(imagenet_samples, tmp_path / "images", 6)
    store = collect(model, LAYER, folder, tmp_path / "store", positions=3, attribution=True, batch_size=2,
                    shard_size=4, progress=False)
    assert store.acts.shape == (18, 192) and store.attr.shape == (18, 1000) and store.attr.dtype == np.float16
    assert store.image.tolist() == [i for i in range(6) for _ in range(3)]
    assert store.ids[0] == min(p.name for p in folder.iterdir())
    assert sorted(p.name for p in (tmp_path / "store" / "shards").iterdir()) == ["000000000-000000004",
                                                                                 "000000004-000000006"]
    # rows are the activation maps at the stored positions
    from deepscope.data.images import load_image_resized

    maps = sample_activations(model, LAYER, load_image_resized(folder / store.ids[1], 224)[None],
                              torch.from_numpy(store.pos[3:6][None].astype(np.int64)))
    assert np.allclose(maps.numpy(), store.acts[3:6], atol=1e-4)

    from deepscope.atlas.collection import run

    monkeypatch.setattr(run, "_run", lambda *a, **k: pytest.fail("a finished collection ran again"))
    again = collect(model, LAYER, folder, tmp_path / "store", positions=3, attribution=True, batch_size=2,
                    shard_size=4, progress=False)
    assert np.array_equal(again.acts, store.acts)
    with pytest.raises(DeepscopeError, match="other settings"):
        collect(model, "blocks.4", folder, tmp_path / "store", positions=3, progress=False)


def test_split_over_processes_then_merge(model, imagenet_samples, tmp_path):
    folder = sample_folder(imagenet_samples, tmp_path / "images", 5)
    whole = collect(model, LAYER, folder, tmp_path / "whole", batch_size=2, shard_size=2, progress=False)
    assert collect(model, LAYER, folder, tmp_path / "p0", batch_size=2, shard_size=2, shard="0/2",
                   progress=False) is None
    with pytest.raises(DeepscopeError, match="incomplete"):
        open_store(tmp_path / "p0")
    collect(model, LAYER, folder, tmp_path / "p1", batch_size=2, shard_size=2, shard="1/2", progress=False)
    merged = open_store(merge_stores([tmp_path / "p0", tmp_path / "p1"], tmp_path / "merged"))
    assert np.array_equal(merged.acts, whole.acts) and np.array_equal(merged.pos, whole.pos)


SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from deepscope.models import load_model
    from deepscope.atlas import collect
    collect(load_model(), "blocks.5", sys.argv[1], sys.argv[2], positions=2, batch_size=2, shard_size=4,
            workers=2, progress=False)
""")


def _collect_command(folder, store) -> list[str]:
    return [sys.executable, "-c", SCRIPT, str(folder), str(store)]


def _collect_in_subprocess(folder, store):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(_collect_command(folder, store), check=False, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sigkill_mid_collection_then_resume_gives_the_uninterrupted_store(imagenet_samples, tmp_path):
    folder = sample_folder(imagenet_samples, tmp_path / "images", 24, start=100)
    _collect_in_subprocess(folder, tmp_path / "clean")
    shards = tmp_path / "killed" / "shards"

    def finished_shards():
        return [p for p in shards.iterdir() if not p.name.startswith(".")] if shards.is_dir() else []

    kill_when(_collect_command(folder, tmp_path / "killed"), lambda: len(finished_shards()) >= 2,
              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    done = finished_shards()
    assert 2 <= len(done) < 6, "the collection was not interrupted mid-way"
    _collect_in_subprocess(folder, tmp_path / "killed")
    clean, resumed = _files(tmp_path / "clean"), _files(tmp_path / "killed")
    assert clean.keys() == resumed.keys()
    assert all(clean[k] == resumed[k] for k in clean), "resumed store differs from the uninterrupted one"


def test_bad_images_are_skipped_listed_and_never_fatal(model, imagenet_samples, tmp_path):
    good = min(imagenet_samples.iterdir())
    folder = sample_folder(imagenet_samples, tmp_path / "images", 2)
    expected = awkward_images(folder / "odd", good)
    store = collect(model, LAYER, folder, tmp_path / "store", batch_size=4, progress=False)
    failed = {Path(f["id"]).name: f["reason"] for f in store.failed}
    assert set(failed) == {name for name, ok in expected.items() if not ok}
    assert "too large" in failed["huge.png"] and "8 px" in failed["tiny.png"]
    assert len(store) == 2 + sum(expected.values())
    assert np.isfinite(store.acts).all()


def test_empty_and_unreadable_folders_give_clear_errors(model, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeepscopeError, match="no image files"):
        collect(model, LAYER, tmp_path / "empty", tmp_path / "s1", progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not an image")
    (bad / "b.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DeepscopeError, match="none of the 2 images could be read"):
        collect(model, LAYER, bad, tmp_path / "s2", progress=False)
    assert json.loads((tmp_path / "s2" / "meta.json").read_text())["num_images"] == 2  # the record is kept


def test_a_torch_dataset_is_a_source(model, tmp_path):
    class Noise(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            if i == 1:
                raise ValueError("broken item")
            return torch.rand(3, 50, 60, generator=torch.Generator().manual_seed(i)), 0

    store = collect(model, LAYER, Noise(), tmp_path / "store", progress=False)
    assert store.ids == ["0", "1", "2"] and store.image.tolist() == [0, 2]
    assert "broken item" in store.failed[0]["reason"]



def test_bf16_autocast_collection_is_close_recorded_and_refused_with_attribution(model, tmp_path):
    class Noise(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(i)), 0

    full = collect(model, LAYER, Noise(), tmp_path / "f32", positions=3, progress=False)
    half = collect(model, LAYER, Noise(), tmp_path / "bf16", positions=3, autocast="bf16", progress=False)
    cos = torch.nn.functional.cosine_similarity(torch.from_numpy(full.acts), torch.from_numpy(half.acts))
    assert half.meta["autocast"] == "bf16" and "autocast" not in full.meta
    assert cos.min() > 0.99 and not np.array_equal(full.acts, half.acts)  # bf16, and close to float32
    with pytest.raises(DeepscopeError, match="--no-attribution"):
        collect(model, LAYER, Noise(), tmp_path / "x", attribution=True, autocast="bf16", progress=False)
    with pytest.raises(DeepscopeError, match="unknown autocast"):
        collect(model, LAYER, Noise(), tmp_path / "y", autocast="fp8", progress=False)
