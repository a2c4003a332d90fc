"""Feature visualization on token layers: channel, neuron and token objectives on a small random ViT."""
from __future__ import annotations

import pytest
import torch

from deepscope.errors import DeepscopeError
from deepscope.models import from_module, layer_spec
from deepscope.models.capture import activations
from deepscope.render import channel, neuron, render, score_images, token

SIZE = 64  # 4x4 patches of 16 px
BLOCK, MLP = "blocks.1", "blocks.1.mlp.act"


@pytest.fixture(scope="module")
def vit():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True, img_size=SIZE, depth=3)
    return from_module(net, name="vit_tiny_patch16_224", input_size=SIZE)


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def raw(vit, images, layer):
    """The layer's own (B, N, C) output."""
    return activations(vit, images, [layer])[layer]


def test_layouts_of_a_block_and_its_mlp_units(vit):
    assert layer_spec(vit, BLOCK).describe() == "tokens 17 = 1 prefix + 4x4 patches, 192 channels"
    assert layer_spec(vit, MLP).describe() == "tokens 17 = 1 prefix + 4x4 patches, 768 channels"


@pytest.mark.parametrize("layer, unit", [(BLOCK, 3), (MLP, 700)])
def test_channel_is_the_mean_over_patch_tokens_without_the_class_token(vit, images, layer, unit):
    out = raw(vit, images, layer)
    scores = score_images(vit, [channel(layer, unit)], images)[:, 0]
    torch.testing.assert_close(scores, out[:, 1:, unit].mean(1), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(scores, out[:, :, unit].mean(1), rtol=1e-5, atol=1e-6)


def test_neuron_and_token_pick_one_token(vit, images):
    out = raw(vit, images, BLOCK)
    objectives = [neuron(BLOCK, 5, x=2, y=1), token(BLOCK, 0, 5), token(BLOCK, 1 + 4 * 1 + 2, 5), token(BLOCK, 3)]
    scores = score_images(vit, objectives, images)
    expected = [out[:, 1 + 4 * 1 + 2, 5], out[:, 0, 5], out[:, 1 + 4 * 1 + 2, 5], out[:, 3].pow(2).mean(1)]
    torch.testing.assert_close(scores, torch.stack(expected, 1), rtol=1e-5, atol=1e-6)
    assert token(BLOCK, 0, 5).meta == {"kind": "token", "layer": BLOCK, "unit": 5, "token": 0}


@pytest.mark.parametrize("objective, message", [
    (token(BLOCK, 17, 0), "token 17 is out of range: layer 'blocks.1' gives tokens 17 = 1 prefix + 4x4 patches"),
    (token(BLOCK, 0, 192), "channel 192 is out of range"),
    (token("patch_embed.proj", 0, 0), "needs a layer with tokens"),
])
def test_token_errors_name_the_layer_and_its_layout(vit, images, objective, message):
    with pytest.raises(DeepscopeError, match=message.replace("(", r"\(").replace("+", r"\+")):
        score_images(vit, [objective], images)


def test_a_short_render_raises_every_token_objective(vit, images):
    objectives = [channel(BLOCK, 3), neuron(BLOCK, 3, x=1, y=2), token(BLOCK, 0, 3), channel(MLP, 5)]
    # no transforms: at 64 px the standard jitter, scale and rotation move whole 16 px patches
    result = render(vit, objectives, size=SIZE, steps=16, transforms=[], progress=False, seed=0)
    random_best = score_images(vit, objectives, images).amax(0)
    assert (result.scores > random_best).all(), (result.scores, random_best)
