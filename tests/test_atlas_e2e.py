"""One real end-to-end run of `deepscope atlas` on the ImageNet samples (UMAP, attributions)."""
import json
import os
from pathlib import Path

import pytest

from deepscope.cli import main


@pytest.mark.slow
def test_cli_atlas_of_imagenet_samples_is_coherent(imagenet_samples, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted(imagenet_samples.iterdir())[::6]:  # 167 images spread over all classes
        os.symlink(path, folder / path.name)
    out = tmp_path / "out"
    code = main(["atlas", "--model", "efficientnet_lite0", "--layer", "blocks.5", "--images", str(folder),
                 "--grid", "8", "--positions", "4", "--icon-size", "64", "--steps", "8", "--attempts", "1",
                 "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["activations", "atlas.json", "atlas.png", "icons"]
    report = json.loads((out / "atlas.json").read_text())
    assert report["num_activations"] == 668 and report["params"]["layout"] == "umap"
    assert len(list((out / "icons").iterdir())) == report["cells_rendered"] >= 15
    # coherent regions: side-by-side cells are more alike than random pairs, animal cells cluster
    assert report["coherence"]["ratio"] > 1.05
    assert report["animal_clustering"]["ratio"] > 1.1
    cell = report["cells"][0]
    assert cell["top_classes"][0]["class"] and Path(cell["sources"][0]["image"]).suffix == ".JPEG"

    # a grid finer than the data supports: a clear message, and the collected activations stay
    code = main(["atlas", "--layer", "blocks.5", "--images", str(folder), "--grid", "200", "--positions", "4",
                 "--layout", "pca", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "use --grid" in err and "stay in" in err
    assert (out / "atlas.json").exists() and (out / "activations" / "meta.json").exists()
