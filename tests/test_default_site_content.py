"""What the default site shows: the embedded photo set (offline, credited), at most two dataset examples
of one photo per unit, atlases sized to their data, progress with the time left, a portable build.json."""
from __future__ import annotations

import json
import socket
from collections import Counter

import numpy as np
import pytest
import torch
from helpers import tiny_site

from deepscope.app import SiteConfig
from deepscope.app.atlas_stage import site_atlas_size
from deepscope.app.default_images import (
    PHOTOS,
    VIEWS,
    credits,
    load_photo,
    photo_size,
    view_boxes,
    write_default_images,
)
from deepscope.app.stages import PRIOR, StageRunner, duration
from deepscope.atlas.grid import cell_of
from deepscope.atlas.layout import spread_layout
from deepscope.atlas.request import FILLED, atlas_grid, atlas_positions, sampled_cells
from deepscope.data import image_files, load_image_resized
from deepscope.data.sources import image_groups
from deepscope.errors import DeepscopeError
from deepscope.examples import TopK, collect_top_examples
from deepscope.models import LayerSpec, activations

LAYER, SIZE = "blocks.2", 64


@pytest.fixture(scope="module")
def default_set(tmp_path_factory, monkeypatch_module):
    """Two 64 px views of every photo, written with the network cut off."""
    def no_network(*_args, **_kwargs):
        raise OSError("network access in a test of the offline image set")

    monkeypatch_module.setattr(socket.socket, "connect", no_network)
    folder = write_default_images(tmp_path_factory.mktemp("default-set"), views=2, size=64)
    monkeypatch_module.undo()
    return folder


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_default_set_has_25_photos_that_load_offline_with_their_licences(default_set):
    files = image_files(default_set)
    groups = image_groups(files, default_set)
    photos = {f.name.rsplit("_", 1)[0] for f in files}
    assert len(photos) == len(PHOTOS) >= 25
    assert len(set(groups)) >= 24  # the stereo pair is one scene
    assert groups[[f.name for f in files].index("motorcycle_right_00.jpg")] == "motorcycle"
    for photo in PHOTOS:
        image = load_photo(photo)
        assert image.mode == "RGB" and min(image.size) >= 96, photo.name
    assert all(c["licence"] and c["credit"] and c["package"] for c in credits()) and len(credits()) == len(PHOTOS)
    assert {c["package"] for c in credits()} == {"scikit-image", "scikit-learn", "Matplotlib"}


def test_sources_manifest_lists_every_view_and_bad_ones_are_named(default_set, tmp_path):
    manifest = json.loads((default_set / "sources.json").read_text())["groups"]
    assert sorted(manifest) == sorted(f.name for f in image_files(default_set))
    assert image_groups(image_files(default_set)[:1], tmp_path) is None  # no manifest: no groups
    (tmp_path / "sources.json").write_text("[1, 2]")
    with pytest.raises(DeepscopeError, match="sources manifest"):
        image_groups([], tmp_path)


def _greedy(scores: torch.Tensor, groups: list, k: int, cap: int | None) -> list[int]:
    """Brute force: every image by score (stable), skipping those whose group already has `cap`."""
    picked, taken = [], Counter()
    for i in torch.sort(scores, descending=True, stable=True).indices.tolist():
        if len(picked) < k and (cap is None or taken[groups[i]] < cap):
            picked.append(i)
            taken[groups[i]] += 1
    return picked + [-1] * (k - len(picked))


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread (no waiting on a second one on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_capped_topk_equals_the_greedy_brute_force_whatever_the_batching(one_thread):
    gen = torch.Generator().manual_seed(0)
    for trial in range(25):
        n, k, cap = int(torch.randint(1, 30, (), generator=gen)), int(torch.randint(1, 9, (), generator=gen)), 2
        groups = torch.randint(0, 5, (n,), generator=gen)
        acts = torch.randint(0, 5, (n, 4, 2, 2), generator=gen).float()  # many ties
        batch = int(torch.randint(1, 6, (), generator=gen))
        topk = TopK.empty([0, 1, 2, 3], k, groups, cap)
        for start in range(0, n, batch):
            topk = topk.update(acts[start:start + batch], torch.arange(start, min(n, start + batch)))
        best = acts.flatten(2).amax(2)
        for c in range(4):
            assert topk.images[c].tolist() == _greedy(best[:, c], groups.tolist(), k, cap), trial
            assert Counter(g for g in groups[topk.images[c][topk.images[c] >= 0]].tolist()).most_common(1)[0][1] <= cap


def test_collected_examples_keep_two_per_photo_and_equal_brute_force(model, default_set):
    files = image_files(default_set)[:16]  # 8 photos, 2 views each
    groups = image_groups(files, default_set)
    channels = list(range(0, 24, 3))
    capped = collect_top_examples(model, LAYER, files, channels=channels, k=5, size=SIZE, batch_size=7,
                                  progress=False, groups=groups)
    plain = collect_top_examples(model, LAYER, files, channels=channels, k=5, size=SIZE, batch_size=7,
                                 progress=False)
    assert capped.key != plain.key  # a checkpoint of one is never resumed as the other
    scores = torch.stack([activations(model, load_image_resized(f, SIZE)[None], [LAYER])[LAYER][0, channels]
                          .flatten(1).amax(1) for f in files])
    for row in range(len(channels)):
        assert capped.topk.images[row].tolist() == _greedy(scores[:, row], groups, 5, 2)
        assert plain.topk.images[row].tolist() == _greedy(scores[:, row], groups, 5, None)
        torch.testing.assert_close(capped.topk.scores[row], scores[capped.topk.images[row], row], atol=1e-4,
                                   rtol=1e-4)


def test_atlas_sizing_gives_40_icons_for_the_default_set_and_explicit_values_win():
    views = sum(len(view_boxes(*photo_size(p), VIEWS)) for p in PHOTOS)  # 241: the 102 px photo gives one
    for grid in ((14, 14), (7, 7)):  # the default site's layers, blocks.3 and blocks.6
        spec = LayerSpec("layer", "map", 80, grid)
        positions, grid = site_atlas_size(SiteConfig(), spec, views)
        assert positions == atlas_positions(views, sampled_cells(*spec.grid, 1)) >= 5
        assert views * positions >= 1200 and FILLED * grid * grid >= 40
        assert views * positions / (grid * grid) >= 2 * SiteConfig().atlas_threshold  # cells well filled
        assert site_atlas_size(SiteConfig(atlas_grid=7, atlas_positions=3), spec, views) == (3, 7)
    assert atlas_positions(100_000, 144) == 1 and atlas_positions(10, 4) == 4 and atlas_positions(10, 400) == 16
    assert atlas_grid(10, 5) == 4 and atlas_grid(10**7, 5) == 20
    assert sampled_cells(7, 7, 1) == 25 and sampled_cells(2, 2, 1) == 4


def test_spread_layout_fills_the_grid_of_a_clustered_layout_and_keeps_each_axis_order():
    rng = np.random.default_rng(0)
    islands = rng.uniform(0, 1, (12, 2))
    coords = (islands[rng.integers(0, 12, 1200)] + rng.normal(0, 0.005, (1200, 2))).clip(0, 1)
    spread = spread_layout(coords)
    kept = [int((np.unique(cell_of(c, 10) @ np.array([10, 1]), return_counts=True)[1] >= 5).sum())
            for c in (coords, spread)]
    assert kept[0] <= 24 and kept[1] >= 36  # 12 islands fill at most two cells each; spread, a third of all
    assert (np.argsort(spread[:, 0], kind="stable") == np.argsort(coords[:, 0], kind="stable")).all()
    assert spread.min() > 0 and spread.max() < 1


def test_progress_says_the_time_left_at_the_speed_seen(tmp_path, capsys):
    runner = StageRunner(tmp_path, {"a": 10.0, "b": 30.0, "c": 60.0})
    runner.run("a", "k", lambda: None)
    runner.skip("b")
    assert runner.time_left() == pytest.approx((runner.timings["a"] + PRIOR) / (10 + PRIOR) * 60, rel=0.05)
    runner.run("c", "k", lambda: None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[site 1/3] a ... (about 1 min 40 s left)"
    assert "left" in lines[1] and lines[-1].startswith("[site 3/3] c: ") and lines[-1].endswith("last stage")
    assert [duration(s) for s in (5, 65, 3700)] == ["5 s", "1 min 05 s", "1 h 01 min"]


def test_site_json_keeps_two_examples_per_photo_and_no_absolute_path(model, tmp_path_factory):
    site = tiny_site(model, tmp_path_factory)
    build = (site / "data" / "build.json").read_text()
    assert str(site) not in build and str(site.resolve()) not in build
    assert "site" not in json.loads(build)
    examples = json.loads((site / "layers" / "blocks.3" / "data" / "examples.json").read_text())
    for shown in examples["units"].values():
        assert shown and max(Counter(e["source"] for e in shown).values()) <= 2
