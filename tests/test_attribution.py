"""Saliency methods: captum-backed, every rectifier takes the method's rule, names and errors."""
import numpy as np
import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, Saliency
from helpers import TinyTokens
from torch import nn

from deepscope.attribution import attribute, get_method, last_conv_layer, method_names
from deepscope.attribution.similarity import hog_similarity, spearman, ssim
from deepscope.cli import main
from deepscope.data import load_image_resized
from deepscope.errors import DeepscopeError
from deepscope.models import from_module

TABBY = "n02123045_tabby.JPEG"


@pytest.fixture(scope="module")
def tabby(imagenet_samples):
    return load_image_resized(imagenet_samples / TABBY, 96)[None]


def _tiny(act: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), act, nn.Conv2d(8, 8, 3, stride=2), act,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()


class _FunctionalRelu(nn.Module):
    def forward(self, x):
        return torch.nn.functional.relu(x)


@pytest.mark.parametrize("method,captum_cls", [("guided-backprop", GuidedBackprop), ("deconvnet", Deconvolution)])
@pytest.mark.parametrize("act", [nn.ReLU6, _FunctionalRelu])
def test_rules_match_captum_on_a_plain_relu_net(method, captum_cls, act):
    """Ours on ReLU6 / functional relu == captum's own method on the same net with nn.ReLU."""
    x = torch.rand(2, 3, 16, 16) * 0.2  # small: ReLU6 never saturates, so ReLU6 == ReLU here
    ours = attribute(from_module(_tiny(act()), mean=(0, 0, 0), std=(1, 1, 1)), x, method, target=3)
    reference = captum_cls(_tiny(nn.ReLU())).attribute(x.clone().requires_grad_(), target=3)
    assert torch.allclose(ours.raw, reference, atol=1e-6)
    plain = Saliency(_tiny(nn.ReLU())).attribute(x.clone().requires_grad_(), target=3, abs=False)
    assert not torch.allclose(ours.raw, plain, atol=1e-4)


def test_guided_and_deconvnet_differ_from_gradient_on_the_embedded_model(model, tabby):
    grad = attribute(model, tabby, "gradient").raw
    # The pitfall this module exists for: captum's own GuidedBackprop is the plain gradient here.
    captum_guided = GuidedBackprop(model).attribute(tabby.clone().requires_grad_(), target=int(model(tabby).argmax()))
    assert torch.allclose(captum_guided, grad, atol=1e-6)
    for method in ("guided-backprop", "deconvnet", "guided-grad-cam"):
        raw = attribute(model, tabby, method).raw
        corr = np.corrcoef(raw.flatten().numpy(), grad.flatten().numpy())[0, 1]
        assert corr < 0.9, f"{method} is too close to the gradient (r={corr:.3f})"
    guided = attribute(model, tabby, "guided-backprop").raw
    assert (guided != 0).float().mean() > 0.05


def test_every_method_gives_a_map_of_the_image_size(model, tabby):
    for method in method_names():
        result = attribute(model, tabby, method, samples=2, steps=2, window=24, stride=24)
        channels = 1 if method == "grad-cam" else 3
        assert result.raw.shape == (1, channels, 96, 96), method
        assert torch.isfinite(result.raw).all() and result.raw.abs().sum() > 0, method
        assert result.map("abs").shape == (1, 96, 96)
    assert attribute(model, tabby, "grad-cam").layer == "bn2"


def test_targets_by_name_or_index(model, tabby):
    by_name = attribute(model, tabby, "gradient", target="tabby")
    by_index = attribute(model, tabby, "gradient", target=281)
    by_text = attribute(model, tabby, "gradient", target="281")
    assert by_name.targets.tolist() == [281]
    assert torch.equal(by_name.raw, by_index.raw) and torch.equal(by_text.raw, by_index.raw)
    other = attribute(model, tabby, "gradient", target="goldfish")
    assert not torch.allclose(other.raw, by_index.raw)


def test_grad_cam_layer_by_name_and_default(model, tabby):
    assert last_conv_layer(model) == "bn2"
    mid = attribute(model, tabby, "grad-cam", layer="blocks.4")
    assert mid.layer == "blocks.4" and mid.raw.shape == (1, 1, 96, 96)
    assert not torch.allclose(mid.raw, attribute(model, tabby, "grad-cam").raw)


def test_bad_names_give_clear_errors(model, tabby):
    with pytest.raises(DeepscopeError, match="unknown saliency method 'gradcamm'.*grad-cam"):
        attribute(model, tabby, "gradcamm")
    with pytest.raises(DeepscopeError, match="unknown layer.*blocks.66"):
        attribute(model, tabby, "grad-cam", layer="blocks.66")
    with pytest.raises(DeepscopeError, match="unknown class 'tabbby cat'"):
        attribute(model, tabby, "gradient", target="tabbby cat")
    with pytest.raises(DeepscopeError, match="valid indices are 0..999"):
        attribute(model, tabby, "gradient", target=1000)
    assert get_method("Guided_Backprop").name == "guided-backprop" and get_method("IG").name == "integrated-gradients"


def test_similarity_measures():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(64, 64))
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert abs(spearman(a, rng.normal(size=(64, 64)))) < 0.05
    assert spearman(a, np.zeros_like(a)) == 0.0
    assert ssim(a, a) == pytest.approx(1.0) and hog_similarity(a, a) == pytest.approx(1.0)
    smooth = np.add.outer(np.arange(64.0), np.arange(64.0))
    assert ssim(smooth, smooth + 0.01 * rng.normal(size=(64, 64))) > ssim(smooth, rng.normal(size=(64, 64)))


def test_cli_saliency_writes_overlays_and_arrays(imagenet_samples, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / TABBY).write_bytes((imagenet_samples / TABBY).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["saliency", "--method", "gradient,grad-cam", "--images", str(folder), "--target", "tabby",
                 "--size", "64", "--out", str(out), "--no-progress"])
    assert code == 0
    assert "skipped" in capsys.readouterr().err
    stem = TABBY.rsplit(".", 1)[0]
    for method in ("gradient", "grad-cam"):
        assert (out / f"{stem}.{method}.png").stat().st_size > 0
        assert np.load(out / f"{stem}.{method}.npy").shape == ((3 if method == "gradient" else 1), 64, 64)
    assert (out / f"{stem}.sheet.png").exists()
    import json

    summary = json.loads((out / "saliency.json").read_text())
    assert summary["images"][0]["target"] == 281 and summary["cam_layer"] == "bn2"
    assert len(summary["skipped"]) == 1


@pytest.mark.parametrize("extra,message", [
    (["--method", "gradiant"], "unknown saliency method 'gradiant'; close matches: gradient"),
    (["--method", "grad-cam", "--layer", "nope"], "unknown layer"),
    (["--target", "no such class"], "unknown class"),
    (["--target", "5000"], "valid indices are 0..999"),
])
def test_cli_saliency_bad_input(imagenet_samples, tmp_path, capsys, extra, message):
    args = ["saliency", "--images", str(imagenet_samples / TABBY), "--out", str(tmp_path), "--size", "64"]
    assert main(args + extra) == 2
    assert message in capsys.readouterr().err


def test_cli_saliency_unreadable_or_missing_image(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    assert main(["saliency", "--images", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.png: unreadable image" in capsys.readouterr().err
    assert main(["saliency", "--images", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_objective_targets_explain_a_channel(model, tabby):
    """A channel objective with the plain gradient is the autograd gradient of its spatial mean."""
    from deepscope.models.capture import capture
    from deepscope.render.objectives import channel

    result = attribute(model, tabby, "gradient", target=channel("blocks.4", 3))
    image = tabby.clone().requires_grad_(True)
    with capture(model, ["blocks.4"]) as cap:
        score = cap(image)["blocks.4"][:, 3].mean((1, 2)).sum()
    expected, = torch.autograd.grad(score, image)
    assert result.targets is None and result.objective.name == "channel(blocks.4:3)"
    assert expected.abs().sum() > 0 and torch.allclose(result.raw, expected, atol=1e-7)
    assert not torch.allclose(result.raw, attribute(model, tabby, "gradient", channel("blocks.4", 4)).raw)
    assert torch.equal(attribute(model, tabby, "gradient", target="tabby").raw,
                       attribute(model, tabby, "gradient", target=281).raw)


def test_objective_targets_with_grad_cam_and_every_method(model, tabby):
    from deepscope.models.capture import capture
    from deepscope.render.objectives import channel, class_logit, neuron

    cam = attribute(model, tabby, "grad-cam", target=channel("blocks.4", 3))
    assert cam.layer == "blocks.4"  # the objective's own layer: the map is where the channel fires
    with capture(model, ["blocks.4"]) as cap:
        act = cap(tabby)["blocks.4"][:, 3:4].detach()
    expected = torch.nn.functional.interpolate(act.clamp(min=0) / act[0, 0].numel(), (96, 96), mode="bilinear")
    assert torch.allclose(cam.raw, expected, atol=1e-6)
    as_class = attribute(model, tabby, "grad-cam", target=class_logit(281))
    assert as_class.layer == "bn2" and torch.allclose(as_class.raw, attribute(model, tabby, "grad-cam", 281).raw)
    for method in method_names():
        raw = attribute(model, tabby, method, neuron("blocks.4", 3), samples=2, steps=2, window=24, stride=24).raw
        assert raw.shape[0] == 1 and torch.isfinite(raw).all(), method
    with pytest.raises(DeepscopeError, match="does not depend on layer 'bn2'"):
        attribute(model, tabby, "grad-cam", target=channel("blocks.4", 3), layer="bn2")


def test_register_method(model, tabby, monkeypatch):
    from deepscope.attribution import METHODS, register_method
    from deepscope.render.objectives import channel

    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))  # registered for this test only

    @register_method("Twice_Gradient", defaults={"factor": 2.0}, objectives=False)
    def twice(forward, images, target, options):
        """twice the gradient"""
        return options["factor"] * Saliency(forward).attribute(images, target=target, abs=False)

    assert get_method("twice-gradient").summary == "twice the gradient" and "twice-gradient" in method_names()
    result = attribute(model, tabby, "twice_gradient", target=281)
    assert torch.allclose(result.raw, 2 * attribute(model, tabby, "gradient", target=281).raw)
    with pytest.raises(DeepscopeError, match="explains classes only"):
        attribute(model, tabby, "twice-gradient", target=channel("blocks.4", 3))
    with pytest.raises(ValueError, match="registered already"):
        register_method("gradient", twice)
    with pytest.raises(DeepscopeError, match="unknown saliency method 'twice-gradiant'; close matches: twice-gradient"):
        get_method("twice-gradiant")


def test_saliency_folder_explains_an_objective(model, imagenet_samples, tmp_path):
    from deepscope.attribution import saliency_folder
    from deepscope.render.objectives import channel

    summary = saliency_folder(model, imagenet_samples / TABBY, tmp_path, ["gradient", "grad-cam"],
                              target=channel("blocks.4", 3), size=64, progress=False)
    assert summary["target"] == {"objective": "channel(blocks.4:3)"} and summary["cam_layer"] == "blocks.4"
    entry = summary["images"][0]
    assert "target" not in entry and entry["top1"] >= 0
    stem = TABBY.rsplit(".", 1)[0]
    assert np.load(tmp_path / f"{stem}.grad-cam.npy").shape == (1, 64, 64)
    assert (tmp_path / f"{stem}.sheet.png").exists() and (tmp_path / "saliency.json").exists()


SIDE, PATCH, WIDTH, PREFIX, CLASSES = 32, 4, 12, 2, 5  # an 8 x 8 patch grid; a class and a register token


class _Permute(nn.Module):
    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class _TinyChannelsLast(nn.Module):
    """A stem, a stage on a (B, H, W, C) map (as Swin's stages), a linear head; `channels_first` ends
    the stage with a permute, so that the same numbers come out channels-first."""

    def __init__(self, channels_first: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, WIDTH, PATCH, PATCH)
        self.stage = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.GELU(), *([_Permute()] if channels_first else []))
        self.head = nn.Linear(WIDTH, CLASSES)
        self.channels_first = channels_first

    def forward(self, x):
        stage = self.stage(self.stem(x).permute(0, 2, 3, 1))
        return self.head(stage.mean((2, 3) if self.channels_first else (1, 2)))


def _wrap(net: nn.Module):
    return from_module(net.eval(), mean=(0, 0, 0), std=(1, 1, 1), input_size=SIDE, name=type(net).__name__)


def _small_images(count=3):
    return torch.rand(count, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(0))


def test_grad_cam_on_tokens_is_grad_cam_on_the_patch_grid():
    torch.manual_seed(0)
    model, images = _wrap(TinyTokens(PREFIX, CLASSES, WIDTH, PATCH)), _small_images()
    assert last_conv_layer(model) == "mix"  # the last token layer, not the vector head
    result = attribute(model, images, "grad-cam", target=3)
    assert result.layer == "mix" and result.raw.shape == (3, 1, SIDE, SIDE)
    saved = {}
    handle = model.module("mix").register_forward_hook(lambda _m, _i, out: saved.setdefault("out", out))
    score = model(images)[:, 3].sum()
    handle.remove()
    grad, = torch.autograd.grad(score, saved["out"])
    side = SIDE // PATCH

    def patch_grid(tokens):  # drop the prefix tokens, patch (y, x) is token PREFIX + side * y + x
        return tokens[:, PREFIX:].transpose(1, 2).reshape(len(tokens), WIDTH, side, side)

    weights = patch_grid(grad).mean((2, 3), keepdim=True)
    cam = (weights * patch_grid(saved["out"].detach())).sum(1, keepdim=True).clamp(min=0)
    expected = torch.nn.functional.interpolate(cam, (SIDE, SIDE), mode="bilinear")
    assert expected.abs().sum() > 0 and torch.allclose(result.raw, expected, atol=1e-6)
    guided = attribute(model, images, "guided-grad-cam", target=3)
    assert guided.raw.shape == (3, 3, SIDE, SIDE) and torch.isfinite(guided.raw).all()


def test_grad_cam_on_a_channels_last_map_equals_it_channels_first():
    torch.manual_seed(0)
    last = _TinyChannelsLast()
    first = _TinyChannelsLast(channels_first=True)
    first.load_state_dict(last.state_dict())
    images = _small_images()
    on_last = attribute(_wrap(last), images, "grad-cam", target=2, layer="stage")
    on_first = attribute(_wrap(first), images, "grad-cam", target=2, layer="stage")
    assert on_last.raw.abs().sum() > 0 and torch.allclose(on_last.raw, on_first.raw, atol=1e-6)
    assert last_conv_layer(_wrap(last)) == "stage"


def test_grad_cam_on_a_vector_layer_is_a_clear_error(model, tabby):
    torch.manual_seed(0)
    tokens = _wrap(TinyTokens(PREFIX, CLASSES, WIDTH, PATCH))
    for net, images, layer, layout in ((tokens, _small_images(1), "head", "vector 5"),
                                       (tokens, _small_images(1), "logits", "vector 5"),
                                       (model, tabby, "global_pool", "vector 1280")):
        with pytest.raises(DeepscopeError, match=f"Grad-CAM needs a layer with .*tokens on a patch grid; "
                                                 f"'{layer}' gives {layout}"):
            attribute(net, images, "grad-cam", target=1, layer=layer)
