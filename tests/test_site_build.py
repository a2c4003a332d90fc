"""`deepscope site`: what a build writes, that reruns skip finished work, and what each stage computes."""
from __future__ import annotations

import json
import re
import time

import pytest
import torch
from helpers import SITE_CHANNELS as CHANNELS
from helpers import SITE_LAYER as LAYER
from helpers import tiny_config, tiny_site
from PIL import Image

from deepscope.app import SiteConfig, build_site
from deepscope.app.default_images import PHOTOS, photo_size, view_boxes, write_default_images
from deepscope.app.tiles import pyramid
from deepscope.app.weights_stage import class_weights, logit_weights
from deepscope.cli import main
from deepscope.errors import DeepscopeError


@pytest.fixture(scope="module")
def site(model, tmp_path_factory):
    return tiny_site(model, tmp_path_factory)


def data(site, what):
    return json.loads((site / "layers" / LAYER / "data" / f"{what}.json").read_text())


def test_stable_urls_and_offline_pages(site):
    for url in ["index.html", "saliency.html", "sanity.html", "assets/site.css", "assets/atlas.js",
                f"layers/{LAYER}/index.html"] + [f"layers/{LAYER}/units/{c}.html" for c in CHANNELS]:
        assert (site / url).is_file(), url
    for page in site.rglob("*.html"):
        html = page.read_text()
        external = re.findall(r'(?:src|href)="((?:https?:)?//[^"]*)"', html)
        assert external == [], (page, external)
        for ref in re.findall(r'(?:src|href)="([^"#:]+)"', html):  # every relative link resolves
            assert (page.parent / ref).resolve().is_file(), (page, ref)


def test_units_have_renders_examples_and_no_class_weights(site):
    fv, examples, weights = data(site, "fv"), data(site, "examples"), data(site, "weights")
    assert sorted(int(c) for c in fv["units"]) == CHANNELS
    for c in CHANNELS:
        unit = fv["units"][str(c)]
        assert len(unit["variants"]) == 2
        for image in [unit["image"]] + [v["image"] for v in unit["variants"]]:
            assert Image.open(site / "layers" / LAYER / image).size == (32, 32)
        shown = examples["units"][str(c)]
        assert [e["rank"] for e in shown] == [1, 2, 3, 4]
        scores = [e["score"] for e in shown]
        assert scores == sorted(scores, reverse=True)
        assert all((site / "layers" / LAYER / e["crop"]).is_file() for e in shown)
    assert weights["feeds_logits"] is False and weights["units"] == {}


def test_atlas_cells_tiles_and_sources(site):
    atlas = data(site, "atlas")
    counts = [c["count"] for c in atlas["cells"]]
    assert sum(counts) == atlas["activations_in_cells"] <= atlas["activations"] == 20 * 4
    assert min(counts) >= atlas["threshold"]
    assert len({(c["x"], c["y"]) for c in atlas["cells"]}) == len(counts)
    assert all(0 <= c["x"] < atlas["grid"] and 0 <= c["y"] < atlas["grid"] for c in atlas["cells"])
    tiles = atlas["tiles"]
    assert tiles["width"] == atlas["grid"] * atlas["icon_size"]
    for level in tiles["levels"]:
        for r in range(level["rows"]):
            for c in range(level["cols"]):
                assert (site / "layers" / LAYER / "atlas" / "tiles" / str(level["level"]) / f"{c}_{r}.jpg").is_file()
    for cell in atlas["cells"]:
        assert len(cell["top_classes"]) == 5
        assert 1 <= len(cell["sources"]) <= 4
        assert all((site / "layers" / LAYER / s["crop"]).is_file() for s in cell["sources"])


def test_rerun_skips_everything(model, site):
    start = time.perf_counter()
    summary = build_site(model, site, tiny_config(), progress=False)
    assert summary["stages_run"] == []
    assert "fv/" + LAYER in summary["stages_skipped"] and "atlas/" + LAYER in summary["stages_skipped"]
    assert time.perf_counter() - start < 15


def test_interrupted_build_resumes_where_it_stopped(model, site, monkeypatch):
    for marker in ("fv_" + LAYER, "atlas_" + LAYER):
        (site / ".build" / f"{marker}.done").unlink()
    lost = site / "layers" / LAYER / "fv" / f"{CHANNELS[1]}.json"
    lost.unlink()  # one unit's render did not finish
    kept = site / "layers" / LAYER / "fv" / f"{CHANNELS[0]}.png"
    kept_bytes = kept.read_bytes()
    cells = data(site, "atlas")["cells"]

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt

    from deepscope.app import build

    monkeypatch.setattr(build, "layer_atlas", crash)
    with pytest.raises(KeyboardInterrupt):
        build_site(model, site, tiny_config(), progress=False)
    assert lost.is_file() and kept.read_bytes() == kept_bytes  # only the missing unit was rendered
    assert (site / ".build" / f"fv_{LAYER}.done").is_file()
    assert not (site / ".build" / f"atlas_{LAYER}.done").is_file()
    monkeypatch.undo()
    summary = build_site(model, site, tiny_config(), progress=False)
    assert summary["stages_run"] in (["atlas/" + LAYER], ["atlas/" + LAYER, "pages"])
    assert data(site, "atlas")["cells"] == cells  # the collected activations were reused: same atlas


def test_class_weights_where_units_feed_the_logits(model, tmp_path):
    weights = logit_weights(model, "bn2")
    assert torch.equal(weights, model.net.classifier.weight.detach().cpu())
    assert logit_weights(model, "conv_head") is None  # BatchNorm and ReLU6 lie between it and the pool
    out = class_weights(model, "bn2", [5], tmp_path)
    positive = out["units"]["5"]["positive"]
    assert positive[0]["weight"] == pytest.approx(float(weights[:, 5].max()), abs=1e-4)
    assert [p["weight"] for p in positive] == sorted((p["weight"] for p in positive), reverse=True)
    assert model.classes[positive[0]["index"]] == positive[0]["class"]


def test_pyramid_levels_fit_tiles(tmp_path):
    picture = Image.new("RGB", (1000, 600), "white")
    picture.paste((200, 10, 10), (0, 0, 500, 300))
    info = pyramid(picture, tmp_path, tile=256, fmt="png")
    assert [level["width"] for level in info["levels"]] == [1000, 500, 250]
    assert info["levels"][-1]["cols"] == info["levels"][-1]["rows"] == 1
    first = info["levels"][0]
    assert (first["cols"], first["rows"]) == (4, 3)
    rebuilt = Image.new("RGB", (1000, 600))
    for r in range(first["rows"]):
        for c in range(first["cols"]):
            part = Image.open(tmp_path / "0" / f"{c}_{r}.png")
            assert part.width <= 256 and part.height <= 256
            rebuilt.paste(part, (c * 256, r * 256))
    assert rebuilt.tobytes() == picture.tobytes()


def test_default_images_ship_with_dependencies(tmp_path):
    folder = write_default_images(tmp_path, views=10, size=128)
    files = sorted(folder.glob("*.jpg"))
    assert len(files) == sum(len(view_boxes(*photo_size(p), 10)) for p in PHOTOS) > 9 * len(PHOTOS)
    assert {Image.open(f).size for f in files} == {(128, 128)}
    stamp = files[0].stat().st_mtime_ns
    write_default_images(tmp_path, views=10, size=128)  # reused, not rewritten
    assert files[0].stat().st_mtime_ns == stamp
    assert all(p.licence for p in PHOTOS)


@pytest.mark.parametrize("argv, message", [
    (["--layers", "blocks.33"], "blocks.3"),
    (["--layers", "global_pool"], "convolutional"),
    (["--layers", "blocks.3", "--channels", "80"], "out of range"),
    (["--fv-size", "4"], "--fv-size"),
    (["--saliency-methods", "gradient,nosuch"], "nosuch"),
    (["--images", "/nonexistent-folder"], "not a folder"),
])
def test_cli_rejects_bad_input(argv, message, tmp_path, capsys):
    assert main(["site", "--out", str(tmp_path / "s"), "--no-progress", *argv]) == 2
    assert message in capsys.readouterr().err


def test_site_of_a_vit_token_layer_and_a_vector_layer(tmp_path):
    """A small random-weight ViT: the token block gets every view, the class-token vector feature
    visualizations, whole-image examples and class weights, and a note instead of the atlas."""
    from dataclasses import replace

    import timm

    from deepscope.app.site_layers import pooled_source
    from deepscope.models import from_module, layer_spec

    torch.manual_seed(0)
    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True, dynamic_img_pad=True,
                            img_size=64, depth=3)
    vit = from_module(net, name="vit_tiny_patch16_224", input_size=64, classes=[f"class {i}" for i in range(1000)])
    cfg = replace(tiny_config(), layers=["blocks.1", "fc_norm"], saliency_methods=("grad-cam", "attention-rollout"),
                  sanity_images=0)
    summary = build_site(vit, tmp_path, cfg, progress=False)
    assert "atlas/blocks.1" in summary["stages_run"] and "atlas/fc_norm" not in summary["stages_run"]
    layer = lambda name, what: json.loads((tmp_path / "layers" / name / "data" / f"{what}.json").read_text())
    atlas = layer("blocks.1", "atlas")
    assert atlas["activations"] == 20 * 4 and all(len(c["top_classes"]) == 5 for c in atlas["cells"])
    assert not (tmp_path / "layers" / "fc_norm" / "data" / "atlas.json").exists()
    for name in ("blocks.1", "fc_norm"):
        examples = layer(name, "examples")
        assert all(len(examples["units"][str(c)]) == 4 for c in CHANNELS)
        assert all((tmp_path / "layers" / name / "units" / f"{c}.html").is_file() for c in CHANNELS)
    assert layer("fc_norm", "examples")["kind"] == "vector" and layer("fc_norm", "weights")["feeds_logits"]
    page = (tmp_path / "layers" / "fc_norm" / "index.html").read_text()
    assert "No atlas for a vector layer" in page and "vector 192" in page
    assert "tokens 17 = 1 prefix + 4x4 patches" in (tmp_path / "layers" / "blocks.1" / "index.html").read_text()
    assert pooled_source(vit, layer_spec(vit, "fc_norm")) is None  # the class token, not a mean of the patches


def test_site_refuses_a_global_pool_with_the_layer_it_pools(model):
    from deepscope.app.site_layers import resolve_layers

    with pytest.raises(DeepscopeError, match="spatial mean of the convolutional feature map 'bn2'.*--layers bn2"):
        resolve_layers(model, SiteConfig(layers=["global_pool"]))
