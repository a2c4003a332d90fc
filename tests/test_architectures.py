"""Mechanics on random-weight transformers and modern convnets: every command runs and writes correctly
shaped outputs; prefix tokens (class, registers) never reach the spatial views."""
import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from deepscope.cli import main
from deepscope.models import capture, load_model
from deepscope.models.layout import prefix_key

# model -> (a middle layer, a render size the model's patches divide, the layer's layout at that size)
MODELS = {
    "vit_tiny_patch16_224": ("blocks.6", 32, "tokens 5 = 1 prefix + 2x2 patches, 192 channels"),
    "deit_tiny_patch16_224": ("blocks.6", 32, "tokens 5 = 1 prefix + 2x2 patches, 192 channels"),
    "vit_small_patch14_reg4_dinov2": ("blocks.5", 28, "tokens 9 = 5 prefix + 2x2 patches, 384 channels"),
    "swin_tiny_patch4_window7_224": ("layers.2", 32, "map 384x2x2 (channels last)"),
    "convnext_atto": ("stages.2", 32, "map 160x2x2"),
    "resnet18": ("layer3", 32, "map 256x2x2"),
}
HEAVY = ["vit_tiny_patch16_224", "swin_tiny_patch4_window7_224"]  # the other commands run on these two
_MODELS: dict[str, object] = {}


def _model(name: str):
    """One random-weight model per name for this module (the CLI's loads are served from here)."""
    if name not in _MODELS:
        _MODELS[name] = load_model(name, pretrained=False)
    return _MODELS[name]


@pytest.fixture(scope="module", autouse=True)
def shared_models():
    def load(name, *, weights=None, pretrained=True, device=None):
        assert not pretrained and weights is None, "the commands must pass --no-pretrained through"
        return _model(name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("deepscope.cli.common.load_model", load)
        yield
    _MODELS.clear()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from deepscope.app.default_images import write_default_images

    return write_default_images(tmp_path_factory.mktemp("images"), views=2, size=64)


def _run(*argv) -> None:
    assert main([*argv, "--no-pretrained"]) == 0


@pytest.mark.parametrize("name", list(MODELS))
def test_layers_and_render(name, tmp_path, capsys):
    layer, size, layout = MODELS[name]
    _run("layers", "--model", name, "--size", str(size), "--json")
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[layer]["layout"] == layout
    head = "fc" if name == "resnet18" else "head"
    assert rows[head]["layout"] == ("vector 384" if "dinov2" in name else "vector 1000")
    _run("render", "--model", name, "--layer", layer, "--channels", "0,1", "--steps", "2", "--size", str(size),
         "--out", str(tmp_path), "--no-progress")
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["unit"] for r in results] == [0, 1] and all(np.isfinite(r["score"]) for r in results)
    for r in results:
        assert Image.open(tmp_path / r["image"]).size == (size, size)


def test_layers_in_words_at_the_model_size(capsys):
    _run("layers", "--model", "vit_tiny_patch16_224")
    table = capsys.readouterr().out
    assert "tokens 197 = 1 prefix + 14x14 patches, 192 channels" in table
    assert "vector 1000" in table
    _run("layers", "--model", "swin_tiny_patch4_window7_224")
    assert "map 96x56x56 (channels last)" in capsys.readouterr().out


@pytest.mark.parametrize("name", HEAVY)
def test_atlas_examples_saliency_sanity(name, images, tmp_path):
    layer, size, _ = MODELS[name]
    atlas = tmp_path / "atlas"
    _run("atlas", "--model", name, "--layer", layer, "--images", str(images), "--layout", "pca", "--grid", "2",
         "--threshold", "1", "--positions", "2", "--steps", "2", "--icon-size", "32", "--out", str(atlas),
         "--no-progress")
    assert Image.open(atlas / "atlas.png").size[0] > 0 and list((atlas / "icons").glob("*.png"))
    meta = json.loads((atlas / "activations" / "meta.json").read_text())
    assert meta["attribution"] and meta["num_classes"] == 1000  # per-token class attribution ran
    examples = tmp_path / "examples"
    _run("examples", "--model", name, "--layer", layer, "--images", str(images), "--channels", "0,1", "--top", "2",
         "--size", str(size), "--deconv", "0", "--out", str(examples), "--no-progress")
    listing = json.loads((examples / "examples.json").read_text())["channels"]
    assert [c["channel"] for c in listing] == [0, 1] and all(len(c["examples"]) == 2 for c in listing)
    assert all(0 <= v < 2 for c in listing for e in c["examples"] for v in e["position"])  # a 2x2 grid at 32 px
    assert all((examples / c["sheet"]).is_file() for c in listing)
    saliency = tmp_path / "saliency"
    _run("saliency", "--model", name, "--images", str(images), "--limit", "2", "--method", "gradient,grad-cam",
         "--size", str(size), "--out", str(saliency), "--no-progress")
    summary = json.loads((saliency / "saliency.json").read_text())
    first = summary["images"][0]["outputs"]
    assert np.load(saliency / first["gradient"]["npy"]).shape == (3, size, size)
    assert np.load(saliency / first["grad-cam"]["npy"]).shape == (1, size, size)
    sanity = tmp_path / "sanity"
    _run("sanity", "--model", name, "--images", str(images), "-n", "2", "--method", "gradient", "--size",
         str(size), "--out", str(sanity), "--no-progress")
    assert "gradient" in json.dumps(json.loads((sanity / "sanity.json").read_text()))
    assert (sanity / "cascade.png").is_file()


def test_prefix_tokens_never_reach_the_spatial_views(images, tmp_path):
    """A class token and registers of 1e4 give the same patch grid, top-k and atlas activations."""
    from deepscope.atlas.collection import collect
    from deepscope.examples.collect import collect_top_examples

    normal = _model("vit_small_patch14_reg4_dinov2")
    loud = copy.deepcopy(normal)
    with torch.no_grad():
        loud.net.cls_token.fill_(1e4)
        loud.net.reg_token.fill_(1e4)
    layer, size = "pos_drop", 28  # tokens before any attention: patches do not see the prefix yet
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    views = []
    for model in (normal, loud):
        with torch.no_grad(), capture(model, [layer], canonical=True) as cap:
            views.append(cap(x))
    assert views[0][layer].shape == (2, 384, 2, 2)
    assert torch.equal(views[0][layer], views[1][layer])
    assert views[1][prefix_key(layer)].shape == (2, 5, 384) and views[1][prefix_key(layer)].abs().min() > 1e3
    files = sorted(images.iterdir())
    tops = [collect_top_examples(m, layer, files, channels=[0, 1, 2], k=3, size=size, progress=False).topk
            for m in (normal, loud)]
    assert torch.equal(tops[0].scores, tops[1].scores) and torch.equal(tops[0].positions, tops[1].positions)
    assert tops[1].scores.max() < 1e3
    stores = [collect(m, layer, images, tmp_path / name, positions=2, progress=False)
              for m, name in ((normal, "normal"), (loud, "loud"))]
    assert np.array_equal(np.asarray(stores[0].acts), np.asarray(stores[1].acts))
    assert np.abs(np.asarray(stores[1].acts)).max() < 1e3
