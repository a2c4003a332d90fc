"""The Ray engine: the same store, top-k and code map as the in-process run, with a worker killed
mid-run and with a driver that stops midway; the default engine never imports Ray."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepscope.atlas.collection import collect
from deepscope.distributed import RayEngine, map_shards, open_engine, require_ray
from deepscope.errors import DeepscopeError

try:
    import ray
except ImportError:  # the tests of the default engine and of the missing-Ray error still run
    ray = None

LAYER = "layer2"
COLLECT = {"positions": 2, "attribution": True, "batch_size": 2, "shard_size": 4, "progress": False}


@pytest.fixture(scope="module")
def digits():
    from deepscope.models import load_model

    return load_model("digits_cnn")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """16 small random photos."""
    folder = tmp_path_factory.mktemp("ray-images")
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def engine(digits):
    """One local Ray for the module: 2 workers, 1 CPU and 1 torch thread each, shut down at the end."""
    if ray is None:
        pytest.skip('the Ray engine needs ray: pip install "deepscope[ray]"')
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fault hooks below travel by value
    with RayEngine(digits, workers=2, threads=1) as started:
        yield started.start()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def local_store(digits, images, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("local") / "store"
    collect(digits, LAYER, images, root, **COLLECT)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def _die_once(work, flag: str, first: int, model, shard):
    """`work`, except that the worker process SIGKILLs itself the first time it starts range `first`."""
    if shard[0] == first and not os.path.exists(flag):
        Path(flag).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return work(model, shard)


class Recording:
    """An engine that passes tasks to `inner` (wrapped by `wrap`) and records the ranges it was given."""

    def __init__(self, inner, wrap=None, stop_after: int | None = None):
        self.inner, self.wrap, self.stop_after, self.ranges = inner, wrap, stop_after, []

    def check(self, model):
        self.inner.check(model)

    def map(self, work, ranges, **options):
        self.ranges += list(ranges)
        for done, item in enumerate(self.inner.map(self.wrap(work) if self.wrap else work, ranges, **options)):
            if self.stop_after is not None and done == self.stop_after:
                raise KeyboardInterrupt("the driver stops")
            yield item


def test_ray_store_is_byte_identical_to_the_in_process_one(digits, images, engine, local_store, tmp_path):
    collect(digits, LAYER, images, tmp_path / "store", engine=engine, **COLLECT)
    assert _files(tmp_path / "store") == _files(local_store) and len(_files(local_store)) == 2 + 4 * 5


def test_a_worker_killed_mid_run_is_retried_and_the_store_is_identical(digits, images, engine, local_store,
                                                                       tmp_path):
    pids = set(ray.get([a.ready.remote() for a in engine.actors]))
    flag = tmp_path / "killed"
    killing = Recording(engine, wrap=lambda work: partial(_die_once, work, str(flag), 4))
    collect(digits, LAYER, images, tmp_path / "store", engine=killing, **COLLECT)
    assert flag.exists(), "no worker was killed"
    assert set(ray.get([a.ready.remote() for a in engine.actors])) != pids  # Ray restarted the dead one
    assert _files(tmp_path / "store") == _files(local_store)


def test_a_rerun_redoes_only_the_missing_shards(digits, images, engine, local_store, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(local_store, store)
    shutil.rmtree(store / "shards" / "000000008-000000012")
    kept = {p.name: p.stat().st_mtime_ns for p in (store / "shards").iterdir()}
    recording = Recording(engine)
    collect(digits, LAYER, images, store, engine=recording, **COLLECT)
    assert recording.ranges == [(8, 12)]
    assert all((store / "shards" / n).stat().st_mtime_ns == t for n, t in kept.items())
    assert _files(store) == _files(local_store)


def test_more_workers_than_the_cluster_has_cpus_is_a_clear_error(digits, engine):
    with pytest.raises(DeepscopeError, match="3 Ray workers of 1 thread.* need 3 CPUs and the cluster has 2"):
        RayEngine(digits, workers=3).start()
    assert ray.is_initialized() and len(engine.actors) == 2  # the running engine is untouched


class InProcess:
    """The smallest engine: tasks run here, in order (map_shards' resume needs no Ray)."""

    def __init__(self, model):
        self.model = model

    def map(self, work, ranges, **options):
        for shard in ranges:
            yield shard, work(self.model, shard)


def test_a_killed_driver_resumes_from_the_shards_it_received(tmp_path):
    def square(model, shard):
        return {"values": torch.arange(*shard) ** 2}

    ranges = [(0, 3), (3, 6), (6, 8)]
    stopping = Recording(InProcess(None), stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        map_shards(stopping, square, ranges, tmp_path / "parts", {"job": 1})
    again = Recording(InProcess(None))
    parts = map_shards(again, square, ranges, tmp_path / "parts", {"job": 1})
    assert again.ranges == [(6, 8)]
    assert torch.equal(torch.cat([p["values"] for p in parts]), torch.arange(8) ** 2)
    other = Recording(InProcess(None))
    map_shards(other, square, ranges, tmp_path / "parts", {"job": 2})  # other settings: nothing reused
    assert other.ranges == ranges


def test_workers_get_the_model_by_name_or_pickled(digits):
    from deepscope.distributed import ModelSpec
    from deepscope.models import from_module

    by_name = ModelSpec.of(digits)
    assert by_name.module is None and by_name.name == "digits_cnn" and by_name.pretrained
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    custom = from_module(net, input_size=16)
    shipped = pickle.loads(pickle.dumps(ModelSpec.of(custom))).load()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(shipped(x), custom(x)) and shipped is not custom


def _brute_force_top(digits, images: Path, k: int):
    """(scores, images) of every channel's top-k from all activations at once, ties by lower index."""
    from deepscope.data import image_files
    from deepscope.data.images import load_image_resized
    from deepscope.models.capture import capture

    batch = torch.stack([load_image_resized(f, digits.input_size) for f in image_files(images)])
    with torch.no_grad(), capture(digits, [LAYER], canonical=True) as cap:
        best = cap(batch)[LAYER].flatten(2).amax(2).T  # (C, N)
    order = np.lexsort((np.broadcast_to(np.arange(best.shape[1]), best.shape), -best.numpy()), axis=1)[:, :k]
    return np.take_along_axis(best.numpy(), order, 1), order


def test_merged_top_k_equals_a_single_pass_and_brute_force(digits, images, engine, tmp_path):
    from deepscope.data import image_files
    from deepscope.examples import TopK, collect_top_examples

    files = image_files(images)
    common = {"k": 5, "batch_size": 4, "progress": False}
    single = collect_top_examples(digits, LAYER, files, **common).topk
    sharded = collect_top_examples(digits, LAYER, files, engine=engine, shard_size=8,
                                   state_path=tmp_path / "state.pt", **common)
    assert sharded.finished and not (tmp_path / ".examples-shards").exists()
    for key in ("scores", "means", "images", "positions"):
        assert torch.equal(getattr(sharded.topk, key), getattr(single, key)), key
    scores, order = _brute_force_top(digits, images, 5)
    assert np.array_equal(single.images.numpy(), order)
    np.testing.assert_allclose(single.scores.numpy(), scores, rtol=1e-5, atol=1e-6)
    again = collect_top_examples(digits, LAYER, files, state_path=tmp_path / "state.pt", **common)
    assert again.finished and torch.equal(again.topk.images, single.images)  # read back by the local engine

    def stop(done):
        if done == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # in process, checkpointed at 4 files, then stopped
        collect_top_examples(digits, LAYER, files, state_path=tmp_path / "half.pt", checkpoint_seconds=0,
                             on_batch=stop, **common)
    recording = Recording(engine)
    resumed = collect_top_examples(digits, LAYER, files, engine=recording, shard_size=8,
                                   state_path=tmp_path / "half.pt", **common)
    assert recording.ranges == [(4, 12), (12, 16)]  # on Ray from the checkpoint
    assert torch.equal(resumed.topk.images, single.images) and torch.equal(resumed.topk.scores, single.scores)
    acts = torch.rand(12, 3, 2, 2).round(decimals=1)  # many ties; groups capped at 1 image each
    groups = torch.arange(12) // 3
    whole = TopK.empty([0, 1, 2], 4, groups, 1).update(acts, torch.arange(12))
    halves = [TopK.empty([0, 1, 2], 4, groups, 1).update(acts[s], torch.arange(12)[s])
              for s in (slice(6, 12), slice(0, 6))]
    merged = halves[0].merge(halves[1])
    assert torch.equal(merged.images, whole.images) and torch.equal(merged.scores, whole.scores)


def test_merged_codes_give_the_same_map(digits, images, engine, tmp_path):
    from deepscope.data import image_files
    from deepscope.examples.code_map import code_map

    files = image_files(images)
    local = code_map(digits, files, tmp_path / "local", batch_size=4, progress=False)
    sharded = code_map(digits, files, tmp_path / "ray", batch_size=4, progress=False, engine=engine, shard_size=8)
    assert json.dumps(sharded, sort_keys=True) == json.dumps(local, sort_keys=True)
    assert (tmp_path / "ray" / "map.png").read_bytes() == (tmp_path / "local" / "map.png").read_bytes()
    assert not (tmp_path / "ray" / ".codes-shards").exists()


def test_the_three_commands_take_the_engine_options(capsys):
    from deepscope.cli import build_parser
    from deepscope.distributed import ENGINES

    parser = build_parser()
    for command in (["atlas", "--layer", "blocks.5"], ["examples", "--layer", "blocks.5"], ["map"]):
        args = parser.parse_args([*command, "--images", "x", "--engine", "ray", "--address", "h:6379",
                                  "--ray-workers", "3", "--workers", "1"])
        assert (args.engine, args.address, args.ray_workers, args.workers) == ("ray", "h:6379", 3, 1)
        engine = next(a for a in parser._subparsers._group_actions[0].choices[command[0]]._actions
                      if a.dest == "engine")
        assert tuple(engine.choices) == ENGINES and engine.default == "local"
        with pytest.raises(SystemExit):
            parser.parse_args([*command, "--images", "x", "--ray-workers", "0"])
    assert "--ray-workers" in capsys.readouterr().err


def test_default_engine_never_imports_ray_and_a_missing_ray_is_named(digits, images, tmp_path, monkeypatch):
    code = "import sys, deepscope, deepscope.distributed, deepscope.cli.atlas_cmd; assert 'ray' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    from deepscope.atlas.request import AtlasRequest

    monkeypatch.setitem(sys.modules, "ray", None)  # any `import ray` now fails
    store = AtlasRequest(layer=LAYER, images=images, positions=1, limit=8).collect(digits, tmp_path, progress=False)
    assert len(store) == 8
    with pytest.raises(DeepscopeError, match=r'pip install "deepscope\[ray\]"'):
        require_ray()
    with pytest.raises(DeepscopeError, match=r'pip install "deepscope\[ray\]"'), open_engine("ray", digits):
        pass
    with pytest.raises(DeepscopeError, match="need --engine ray"), open_engine("local", address="127.0.0.1:6379"):
        pass


def test_a_client_sends_its_token_only_when_one_is_at_hand_and_nothing_is_said(tmp_path):
    """Clusters from `ray start` want token authentication, which a client sends only with
    RAY_AUTH_MODE=token: chosen when a token is given or saved, never over the user's setting."""
    from deepscope.distributed.engine import client_auth_mode

    assert client_auth_mode({}, tmp_path) is None
    assert client_auth_mode({"RAY_AUTH_TOKEN": "abc"}, tmp_path) == "token"
    assert client_auth_mode({"RAY_AUTH_TOKEN_PATH": "/some/file"}, tmp_path) == "token"
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("abc")
    assert client_auth_mode({}, tmp_path) == "token"
    assert client_auth_mode({"RAY_AUTH_MODE": "disabled"}, tmp_path) is None
