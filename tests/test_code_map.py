"""CNN-code map: grid assignment without repeats, seam statistic, neighbour labels, CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from deepscope.cli import main
from deepscope.examples.grid_layout import assign_to_grid, grid_shape, label_agreement, seam_statistic


def test_assignment_puts_lattice_points_in_their_own_cells_without_repeats():
    rows, cols = 3, 4
    cy, cx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    xy = np.stack([cx.ravel(), cy.ravel()], 1).astype(float)
    order = np.random.default_rng(0).permutation(len(xy))
    grid = assign_to_grid(xy[order], rows, cols)
    assert np.array_equal(order[grid].reshape(-1), np.arange(rows * cols))
    extra = np.concatenate([xy, [[1.5, 1.0], [0.2, 0.1]]])
    grid = assign_to_grid(extra, rows, cols)
    assert len(set(grid.ravel().tolist())) == rows * cols and grid.min() >= 0
    grid = assign_to_grid(xy[:10], rows, cols)
    assert (grid == -1).sum() == 2 and sorted(grid[grid >= 0].tolist()) == list(range(10))
    assert grid_shape(1000) == (31, 31) and grid_shape(10, cols=5) == (2, 5)


def test_seam_and_label_statistics_on_a_known_grid():
    codes = np.array([[0.0], [1.0], [10.0], [11.0]])
    ordered = np.array([[0, 1], [2, 3]])  # neighbours: (0,1) d1, (2,3) d1, (0,2) d10, (1,3) d10
    seam = seam_statistic(codes, ordered)
    assert seam["neighbours"] == pytest.approx(5.5)
    assert seam["random_pairs"] == pytest.approx((1 + 10 + 11 + 9 + 10 + 1) / 6)
    top5 = np.array([[1, 2, 3, 4, 5], [1, 6, 7, 8, 9], [2, 6, 10, 11, 12], [13, 14, 15, 16, 17]])
    labels = label_agreement(top5, ordered)
    assert labels["top1_neighbours"] == pytest.approx(0.25) and labels["top1_chance"] == pytest.approx(2 / 12)
    assert labels["top5_overlap_neighbours"] == pytest.approx(0.5)


def _check_map(out, seam_below, top1_times, top5_times):
    report = json.loads((out / "map.json").read_text())
    seam, labels = report["seam"], report["labels"]
    assert seam["ratio"] < seam_below, seam
    assert seam["nearest4_ratio"] < seam["ratio"] <= 1.2 * seam["nearest4_ratio"]  # within 1.2x of the floor
    assert seam["floor_ratio"] == pytest.approx(seam["ratio"] / seam["nearest4_ratio"])
    assert labels["top1_neighbours"] >= top1_times * labels["top1_chance"], labels
    assert labels["top5_overlap_neighbours"] >= top5_times * labels["top5_overlap_chance"], labels
    cells = [c["image"] for row in report["cells"] for c in row if c]
    assert len(cells) == len(set(cells)) == report["grid"][0] * report["grid"][1]  # no repeats, all filled
    assert (out / "map.png").is_file()
    return report


def test_map_of_a_subset_orders_the_images(imagenet_samples, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for f in sorted(imagenet_samples.glob("*.JPEG"))[::6]:
        shutil.copy(f, folder / f.name)
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "map"
    assert main(["map", "--images", str(folder), "--out", str(out), "--no-progress", "--thumb", "24"]) == 0
    assert "skipped 1 of 168" in capsys.readouterr().err
    report = _check_map(out, seam_below=0.98, top1_times=3, top5_times=4)
    assert report["files"]["read"] == 167 and report["grid"] == [12, 12]
    # Codes are cached: another layout reuses them.
    assert main(["map", "--images", str(folder), "--out", str(out), "--no-progress", "--thumb", "24",
                 "--rows", "8", "--cols", "20"]) == 0
    assert json.loads((out / "map.json").read_text())["grid"] == [8, 20]


@pytest.mark.slow
def test_map_of_the_1000_samples(imagenet_samples, tmp_path):
    out = tmp_path / "map"
    assert main(["map", "--images", str(imagenet_samples), "--out", str(out), "--no-progress"]) == 0
    _check_map(out, seam_below=0.93, top1_times=20, top5_times=10)


def test_map_errors_are_clear(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["map", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no image files" in capsys.readouterr().err
    few = tmp_path / "few"
    few.mkdir()
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (32, 32), (i * 100, 50, 50)).save(few / f"{i}.png")
    assert main(["map", "--images", str(few), "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    assert "at least 4 readable images" in capsys.readouterr().err
