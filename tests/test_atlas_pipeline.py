"""Layout, grid, whitening, quality measures, canvas, class atlas and comparison (no rendering)."""
import numpy as np
import pytest
import torch

from deepscope.atlas import (
    ActivationStore,
    attribution_axis,
    bin_layout,
    build_atlas,
    class_atlas,
    coherence,
    compare_classes,
    layout,
    normalize_layout,
    whitening,
)
from deepscope.atlas.canvas import assemble
from deepscope.atlas.grid import suggest_grid
from deepscope.atlas.quality import animal_clustering, group_share, label_clustering
from deepscope.errors import DeepscopeError


def blobs(n_per=60, centres=4, dim=16, seed=0):
    """Non-negative activations around `centres` well-separated directions."""
    rng = np.random.default_rng(seed)
    means = rng.random((centres, dim)) * 4
    labels = np.repeat(np.arange(centres), n_per)
    acts = np.abs(means[labels] + rng.normal(0, 0.3, (len(labels), dim))).astype(np.float32)
    return acts, labels


def fake_store(acts, labels, classes=5):
    """A store whose attribution to class `label` is high for each row."""
    n = len(acts)
    attr = np.random.default_rng(1).normal(0, 0.01, (n, classes)).astype(np.float16)
    attr[np.arange(n), labels % classes] += 1.0
    meta = {"layer": "blocks.5", "class_names": [f"class{i}" for i in range(classes)], "model": "fake"}
    ids = [f"img{i}.jpg" for i in range(n)]
    return ActivationStore(None, meta, ids, acts, np.arange(n), np.ones((n, 2), np.int16), attr)


def test_percentile_normalization_clips_outliers_into_unit_square():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(1000, 2))
    coords[0] = [1e6, -1e6]
    out = normalize_layout(coords)
    assert out.min() >= 0 and out.max() <= 1 and out[0].tolist() == [1.0, 0.0]
    inner = out[1:]
    # the 1st..99th percentile range widened by 10% on each side maps to [1/12, 11/12]
    assert np.percentile(inner[:, 0], 1) == pytest.approx(0.1 / 1.2, abs=0.01)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_layouts_separate_blobs(method):
    acts, labels = blobs(n_per=30)
    coords = layout(acts, method, perplexity=10) if method == "tsne" else layout(acts, method)
    assert coords.shape == (120, 2) and coords.min() >= 0 and coords.max() <= 1
    centres = np.stack([coords[labels == k].mean(0) for k in range(4)])
    spread = np.mean([coords[labels == k].std(0).mean() for k in range(4)])
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) > 2 * spread


def test_a_layout_above_the_fit_limit_fits_a_sample_and_places_the_rest():
    from deepscope.atlas.layout import fit_sample

    acts, labels = blobs(n_per=50)
    sample = fit_sample(len(acts), 80, seed=3)
    assert len(sample) == 80 and (np.diff(sample) > 0).all() and fit_sample(len(acts), 80, 3).tolist() == sample.tolist()
    assert fit_sample(len(acts), 200, 3) is None and fit_sample(len(acts), None, 3) is None
    coords = layout(acts, "pca", seed=3, fit_limit=80, normalize=False)
    np.testing.assert_array_equal(coords, layout(acts, "pca", seed=3, fit_limit=80, normalize=False))
    np.testing.assert_allclose(coords[sample], layout(acts[sample], "pca", seed=3, normalize=False), atol=1e-5)
    placed = np.setdiff1d(np.arange(len(acts)), sample)
    centres = np.stack([coords[sample][labels[sample] == k].mean(0) for k in range(4)])
    nearest = np.linalg.norm(coords[placed][:, None] - centres[None], axis=2).argmin(1)
    assert (nearest == labels[placed]).mean() > 0.95  # the placed points land in their own blob
    assert not np.allclose(coords, layout(acts, "pca", seed=3, fit_limit=None, normalize=False), atol=1e-3)
    with pytest.raises(DeepscopeError, match="fit limit"):
        layout(acts, "pca", fit_limit=2)


def test_layout_rejects_unknown_method_and_too_little_data():
    with pytest.raises(DeepscopeError, match="unknown layout"):
        layout(np.ones((10, 3)), "mds")
    with pytest.raises(DeepscopeError, match="at least 4"):
        layout(np.ones((2, 3)), "pca")


def test_grid_bins_means_and_threshold():
    coords = np.array([[0.05, 0.05]] * 3 + [[0.95, 0.95]] * 2 + [[0.55, 0.05]])
    acts = np.arange(12, dtype=np.float32).reshape(6, 2)
    grid = bin_layout(coords, acts, 2, threshold=2)
    assert grid.cells.tolist() == [[0, 0], [1, 1]] and grid.counts.tolist() == [3, 2] and grid.dropped == 1
    assert np.allclose(grid.directions[0], acts[:3].mean(0)) and grid.members[1].tolist() == [3, 4]


def test_grid_finer_than_the_data_is_refused_with_a_suggestion():
    rng = np.random.default_rng(0)
    coords, acts = rng.random((200, 2)), rng.random((200, 4))
    with pytest.raises(DeepscopeError, match=r"use --grid \d+ or less"):
        bin_layout(coords, acts, 40, threshold=5)
    size = suggest_grid(coords, 5)
    assert 2 <= size < 40
    assert len(bin_layout(coords, acts, size, threshold=5)) > 0


def test_whitening_is_the_pseudo_inverse_of_the_second_moment():
    acts = np.random.default_rng(0).random((500, 6)).astype(np.float32)
    acts[:, 5] = acts[:, 4]  # singular: pinv, not inv
    s = whitening(acts)
    m = acts.T.astype(np.float64) @ acts / len(acts)
    assert np.allclose(m @ s @ m, m, atol=1e-3)


def test_coherence_is_high_for_a_smooth_grid_and_one_for_a_shuffled_one():
    acts, _ = blobs()
    coords = layout(acts, "pca")
    grid = bin_layout(coords, acts, 6, threshold=1)
    smooth = coherence(grid)["ratio"]
    rng = np.random.default_rng(0)
    grid.directions = grid.directions[rng.permutation(len(grid))]
    shuffled = [coherence(grid)["ratio"]]
    assert smooth > 1.1 and smooth > shuffled[0]


def test_label_clustering_counts_neighbours_of_a_group():
    class G:
        cells = np.array([[0, 0], [1, 0], [5, 5], [6, 5]])
    result = label_clustering(G, np.array([True, True, False, False]))
    assert result["neighbour_rate"] == 1.0 and result["base_rate"] == 0.5 and result["ratio"] == 2.0
    attr = np.zeros((4, 1000))
    attr[:2, 5], attr[:2, 600] = 1.0, 0.5  # mostly animal (class 5), top class animal
    attr[2:, 7], attr[2:, 700] = 0.4, 0.6  # mostly other, top class other
    result = animal_clustering(G, attr)
    assert result["ratio"] == 2.0 and result["by_top_class"]["ratio"] == 2.0
    assert group_share(attr)[0] == pytest.approx(2 / 3)


def test_canvas_places_icons_with_y_up_and_opacity():
    icons = torch.zeros(2, 3, 4, 4)
    picture = np.asarray(assemble(icons, np.array([[0, 0], [1, 1]]), 2, opacity=np.array([1.0, 0.5])))
    assert picture.shape == (8, 8, 3)
    assert picture[4:, :4].max() == 0  # cell (0, 0) bottom-left, black
    assert abs(int(picture[0, 4, 0]) - 128) <= 1  # cell (1, 1) top-right, half transparent over white
    assert picture[0, 0, 0] == 255  # empty cell


def test_build_atlas_without_icons_reports_cells_and_classes(tmp_path):
    acts, labels = blobs()
    atlas = build_atlas(None, fake_store(acts, labels), grid=5, threshold=2, layout="pca", icons=None)
    entry = atlas.to_json()["cells"][0]
    assert {"grid", "count", "top_classes", "sources"} <= set(entry)
    assert entry["top_classes"][0]["class"].startswith("class") and len(entry["sources"]) <= 4
    assert atlas.coherence["ratio"] > 1
    atlas.save(tmp_path)
    assert (tmp_path / "atlas.json").exists() and not (tmp_path / "atlas.png").exists()
    with pytest.raises(DeepscopeError, match="no icons"):
        atlas.picture()


def test_class_atlas_keeps_the_class_and_sets_opacity():
    acts, labels = blobs(n_per=40)
    store = fake_store(acts, labels)
    atlas = class_atlas(None, store, "class2", top=10, grid=3, threshold=2, layout="pca", icons=None)
    assert atlas.extra["class"]["index"] == 2 and len(atlas.data) == 40
    assert atlas.opacity.max() == pytest.approx(1.0) and (atlas.opacity >= 0).all()
    with pytest.raises(DeepscopeError, match="unknown class"):
        class_atlas(None, store, "zebra", icons=None)


def test_compare_axis_and_column_labels():
    diff = attribution_axis(np.zeros(101), np.linspace(-1, 1, 101))
    assert diff.min() == -1 and diff.max() == 1 and diff[50] == 0
    acts, labels = blobs(n_per=40)
    store = fake_store(acts, labels)
    comparison = compare_classes(None, store, "class0", "class3", top=20, grid=4, threshold=2, y_layout="pca",
                                 icons=None)
    cells = comparison.cells()
    assert comparison.names == ("class0", "class3") and len(cells) == len(comparison.atlas.grid)
    labels_seen = [c for c in comparison.column_labels if c]
    assert labels_seen[0] == "class0" and labels_seen[-1] == "class3"
    toward_b = comparison.toward("b", 2)
    assert toward_b[0].x >= toward_b[1].x and toward_b[0].attribution_b > toward_b[0].attribution_a


def test_bare_activation_arrays_need_a_layer():
    with pytest.raises(DeepscopeError, match="layer"):
        build_atlas(None, np.random.rand(50, 4), icons=None, layout="pca")
    with pytest.raises(DeepscopeError, match="samples, channels"):
        build_atlas(None, np.random.rand(5, 4, 2), "blocks.5", icons=None)
