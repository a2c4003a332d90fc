"""Capture clones outputs, removes its hooks, warns on reused modules and can stop early."""
import warnings

import pytest
import torch
from torch import nn

from deepscope.models import capture, from_module, list_layers, load_model


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def _conv_relu_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(2))
    model = from_module(net, (0.5,) * 3, (0.5,) * 3)
    model(torch.rand(1, 3, 8, 8))
    return model


def test_capture_before_inplace_relu_keeps_pre_relu_values():
    model = _conv_relu_model()
    x = torch.rand(2, 3, 8, 8)
    with capture(model, ["0"]) as cap:
        acts = cap(x)
    expected = model.net[0]((x - 0.5) / 0.5)
    assert torch.allclose(acts["0"], expected)
    assert (acts["0"] < 0).any(), "pre-ReLU values must include negatives"


def test_hooks_are_removed_even_after_an_error():
    model = _conv_relu_model()
    with pytest.raises(ValueError), capture(model, ["0", "1"]) as cap:
        cap(torch.rand(1, 3, 8, 8))
        raise ValueError("boom")
    assert _no_hooks(model)


def test_module_fired_twice_warns():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(3, 3, 1), relu, nn.Conv2d(3, 3, 1), relu)
    model = from_module(net, (0.5,) * 3, (0.5,) * 3)
    with capture(model, ["1"]) as cap, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cap(torch.rand(1, 3, 4, 4))
    assert any("more than once" in str(w.message) for w in caught)


def test_truncate_skips_later_layers():
    model = _conv_relu_model()
    calls = []
    model.net[3].register_forward_hook(lambda *a: calls.append(1))
    with capture(model, ["0"], truncate=True) as cap:
        acts = cap(torch.rand(1, 3, 8, 8))
    assert "0" in acts and not calls
    with capture(model, ["0", "logits"], truncate=True) as cap:
        acts = cap(torch.rand(1, 3, 8, 8))
    assert acts["logits"].shape == (1, 2) and calls


def test_embedded_model_layers_and_accuracy_sanity(model, imagenet_samples):
    from deepscope.data import image_files, load_image_resized

    shapes = {i.name: i.shape for i in list_layers(model)}
    assert shapes["blocks.4"] == (112, 14, 14) and shapes["blocks.5"] == (192, 7, 7)
    files = image_files(imagenet_samples)[::50]  # 20 classes, spread over the index range
    labels = torch.tensor([i * 50 for i in range(len(files))])
    x = torch.stack([load_image_resized(f, 224) for f in files])
    with torch.no_grad():
        top1 = model(x).argmax(1)
    assert (top1 == labels).float().mean() >= 0.75  # 0.88 on all 1000 with the right preprocessing


def test_googlenet_paper_aliases():
    g = load_model("googlenet", pretrained=False)
    assert g.resolve("mixed4c") == "inception4c"
    from deepscope.errors import DeepscopeError
    with pytest.raises(DeepscopeError, match="close matches: mixed4"):
        g.resolve("mixed4x")


def test_inputs_records_what_a_module_receives(model):
    images = torch.rand(2, 3, 64, 64)
    with capture(model, ["classifier", "logits"], inputs=True, detach=True) as cap:
        acts = cap(images)
    with capture(model, ["global_pool"], detach=True) as cap:
        pooled = cap(images)["global_pool"]
    assert torch.equal(acts["classifier"], pooled.flatten(1))
    assert torch.allclose(acts["logits"], model.net.classifier(pooled.flatten(1)), atol=1e-5)
