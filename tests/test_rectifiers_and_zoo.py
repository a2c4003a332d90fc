"""Rectifier backward rules reach every rectifier; models load offline or fail with a clear fix."""
import urllib.error

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepscope.errors import DeepscopeError
from deepscope.models import load_model
from deepscope.models.rectifiers import override_rectifiers


class _Mixed(nn.Module):
    """ReLU6 module, ReLU module and functional relu in a row."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.ReLU6(inplace=True), nn.ReLU(inplace=True)

    def forward(self, x):
        return F.relu(self.b(self.a(x * 1.0)) * 1.0, inplace=True)


def _grad(rule, x, weight):
    x = x.clone().requires_grad_(True)
    with override_rectifiers(rule) if rule else torch.enable_grad():
        y = _Mixed()(x)
    (y * weight).sum().backward()
    return y.detach(), x.grad


def test_rules_on_relu6_and_functional_relu():
    x = torch.tensor([[-1.0, 0.5, 7.0, 2.0]])
    weight = torch.tensor([[-1.0, -1.0, 1.0, 1.0]])
    plain_y, plain = _grad(None, x, weight)
    for rule in ("guided", "deconvnet", "redirected"):
        y, _ = _grad(rule, x, weight)
        assert torch.equal(y, plain_y), "forward values must not change"
    assert plain.tolist() == [[0.0, -1.0, 0.0, 1.0]]
    assert _grad("guided", x, weight)[1].tolist() == [[0.0, 0.0, 0.0, 1.0]]
    assert _grad("deconvnet", x, weight)[1].tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_redirected_gradient_wakes_a_dead_unit():
    x = torch.tensor([[-1.0, -2.0]])
    loss_weight = torch.tensor([[-1.0, -1.0]])  # loss = -y: minimizing it raises y, but both units are dead
    assert _grad(None, x, loss_weight)[1].abs().sum() == 0
    # redirected lets the gradient through, so a descent step moves x up towards the active range
    assert (_grad("redirected", x, loss_weight)[1] < 0).all()
    # ... but never the gradient that would push a dead unit further down
    assert _grad("redirected", x, -loss_weight)[1].abs().sum() == 0


def test_guided_backprop_differs_from_gradient_on_embedded_model(model):
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    model(x)[0, 1].backward()
    plain = x.grad.clone()
    x.grad = None
    with override_rectifiers("guided"):
        model(x)[0, 1].backward()
    assert not torch.allclose(plain, x.grad)


def test_offline_download_failure_names_the_fix(monkeypatch):
    def refuse(*_a, **_k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    with pytest.raises(DeepscopeError, match="could not fetch the pretrained weights.*--weights FILE"):
        load_model("resnet18")


def test_local_weights_file(tmp_path):
    import torchvision

    net = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "r18.pth"
    torch.save(net.state_dict(), path)
    model = load_model("resnet18", weights=path)
    assert torch.equal(model.net.fc.weight, net.fc.weight)
    assert model.classes[0] == "tench" and model.resolve("layer3") == "layer3"
    with pytest.raises(DeepscopeError, match="does not exist"):
        load_model("resnet18", weights=tmp_path / "missing.pth")


def test_class_lookup(model):
    assert model.class_index("great white shark") == 2
    assert model.class_index("2") == 2 and model.class_index(7) == 7
    with pytest.raises(DeepscopeError, match="valid indices are 0..999"):
        model.class_index(1000)


def test_no_pretrained_builds_the_same_random_weights_every_time(model):
    from deepscope.cli import build_parser

    first, again = (load_model("efficientnet_lite0", pretrained=False) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not torch.equal(first.net.conv_stem.weight, model.net.conv_stem.weight)  # not the embedded weights
    assert (first.input_size, first.mean.flatten().tolist()) == (model.input_size, model.mean.flatten().tolist())
    assert build_parser().parse_args(["layers", "--no-pretrained"]).pretrained is False
    assert build_parser().parse_args(["render"]).pretrained is True


def test_vit_takes_any_size_and_a_fixed_model_renders_at_its_own(tmp_path, capsys):
    import timm

    from deepscope.render import render
    from deepscope.render.objectives import channel
    from deepscope.render.request import RenderRequest

    vit = load_model("test_vit", pretrained=False)
    assert vit.fixed_size is None and vit.net.num_prefix_tokens == 1
    plain = timm.create_model("test_vit", pretrained=False).eval()  # fixed to 160 px
    plain.load_state_dict(vit.net.state_dict())
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        assert torch.equal(plain((x - vit.mean) / vit.std), vit(x))  # the model's own size: unchanged
        assert vit(torch.rand(1, 3, 40, 40)).shape == (1, 1000)  # not a multiple of the patch: padded
    fixed = load_model("test_maxvit", pretrained=False)
    assert fixed.fixed_size == 160
    with pytest.raises(DeepscopeError, match="takes 160x160 inputs only, not 64x64: use --size 160"):
        fixed(torch.rand(1, 3, 64, 64))  # not an assertion from inside the model
    result = render(fixed, channel("stages.1", 0), size=64, steps=1, progress=False)
    assert result.images.shape == (1, 3, 160, 160)
    RenderRequest(layers=["stages.1"], channels=[0], size=64, steps=1).run(fixed, tmp_path, progress=False)
    notes = capsys.readouterr().err.splitlines()
    assert notes == ["note: test_maxvit takes 160x160 inputs only; using 160 px instead of 64"]


def test_open_clip_names_need_open_clip(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if it were not installed
    with pytest.raises(DeepscopeError, match="pip install open_clip_torch.*vit_base_patch16_clip_224"):
        load_model("open_clip:ViT-B-32", pretrained=False)
