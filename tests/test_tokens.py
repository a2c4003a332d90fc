"""Feature visualization on token layers: channel, neuron and token objectives on a small random ViT."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepscope.attribution import attribute, method_names
from deepscope.attribution.rollout import rollout_grid
from deepscope.errors import DeepscopeError
from deepscope.models import from_module, layer_spec
from deepscope.models.attention import attention_modules
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


# --- attention rollout -----------------------------------------------------------------------------
class FixedAttention(nn.Module):
    """Mixes tokens with a fixed (heads, N, N) attention; like timm's `Attention`, the softmax attention
    goes through `attn_drop` only when `fused_attn` is off."""

    def __init__(self, attention: torch.Tensor):
        super().__init__()
        self.register_buffer("attention", attention)
        self.fused_attn = True
        self.attn_drop = nn.Identity()

    def forward(self, x):
        attention = self.attention.expand(x.shape[0], -1, -1, -1)
        if not self.fused_attn:
            attention = self.attn_drop(attention)
        return x + attention.mean(1) @ x


class TinyViT(nn.Module):
    """8x8 images -> a class token and 2x2 patches of 4 px -> fixed attention blocks -> 3 logits."""

    num_prefix_tokens = 1

    def __init__(self, attentions):
        super().__init__()
        self.patch = nn.Conv2d(3, 4, 4, stride=4)
        self.blocks = nn.Sequential(*(FixedAttention(a) for a in attentions))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens.new_zeros(len(x), 1, 4), tokens], 1)
        return self.head(self.blocks(tokens)[:, 0])


def tiny_vit(*attentions):
    return from_module(TinyViT(attentions), name="tiny-vit", input_size=8)


def test_rollout_of_one_block_by_hand():
    # head 1: the class token attends to patch 0; head 2: to itself. Head mean, row 0: [1/2, 1/2, 0, 0, 0];
    # plus the identity and renormalized: [3/4, 1/4, 0, 0, 0]; over the 2x2 patches: [[1/4, 0], [0, 0]].
    one, two = torch.eye(5), torch.eye(5)
    one[0] = torch.tensor([0.0, 1, 0, 0, 0])
    model = tiny_vit(torch.stack([one, two]))
    grid = rollout_grid(model, torch.rand(2, 3, 8, 8))
    torch.testing.assert_close(grid, torch.tensor([[[0.25, 0.0], [0.0, 0.0]]]).expand(2, 2, 2))
    raw = attribute(model, torch.rand(1, 3, 8, 8), "attention-rollout").raw
    expected = F.interpolate(torch.tensor([[[[0.25, 0.0], [0.0, 0.0]]]]), size=(8, 8), mode="bilinear")
    torch.testing.assert_close(raw, expected)
    assert model.net.blocks[0].fused_attn is True  # restored as it was


def test_rollout_multiplies_through_the_layers():
    gen = torch.Generator().manual_seed(0)
    first, second = (torch.rand(2, 5, 5, generator=gen).softmax(-1) for _ in range(2))
    steps = [(a.mean(0) + torch.eye(5)) / 2 for a in (first, second)]  # rows of a softmax sum to 1
    expected = (steps[1] @ steps[0])[0, 1:].reshape(2, 2)
    grid = rollout_grid(tiny_vit(first, second), torch.rand(1, 3, 8, 8))
    torch.testing.assert_close(grid[0], expected)


def test_rollout_on_a_vit_and_where_it_does_not_apply(vit, images):
    fused = [m.fused_attn for m in attention_modules(vit.net)]
    result = attribute(vit, images[:2], "rollout")
    assert result.raw.shape == (2, 1, SIZE, SIZE) and (result.raw >= 0).all() and result.raw.sum() > 0
    assert [m.fused_attn for m in attention_modules(vit.net)] == fused
    assert "attention-rollout" in method_names(specific=True) and "attention-rollout" not in method_names()
    cnn = from_module(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3)), name="cnn")
    with pytest.raises(DeepscopeError, match="model 'cnn' has none: use grad-cam"):
        attribute(cnn, torch.rand(1, 3, 16, 16), "attention-rollout", target=0)
    with pytest.raises(DeepscopeError, match="explains classes only"):
        attribute(vit, images[:1], "attention-rollout", target=channel(BLOCK, 0))


# --- deconvnet ---------------------------------------------------------------------------------------
def test_deconvnet_on_a_transformer_is_a_clear_error(vit, images):
    from deepscope.examples.deconv import deconv_problem, project_units

    problem = deconv_problem(vit, BLOCK)
    assert "ReLU-family rectifiers" in problem and "tokens 17 = 1 prefix + 4x4 patches" in problem
    with pytest.raises(DeepscopeError, match="layer 'blocks.1'.*--deconv 0"):
        project_units(vit, BLOCK, images[:1], [0], [(1, 1)])
    assert project_units(vit, BLOCK, images[:1], [0], [(1, 1)], rule=None).shape == (1, 3, SIZE, SIZE)
    cnn = from_module(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)), name="cnn", input_size=16)
    assert deconv_problem(cnn, "2") is None and deconv_problem(cnn, "0") is not None
    assert (project_units(cnn, "2", torch.rand(1, 3, 16, 16), [1], [(3, 3)]) != 0).any()


def test_diversity_on_a_vector_layer_is_the_gram_formula():
    from deepscope.render import diversity

    vectors = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    grams = F.normalize(torch.einsum("bi,bj->bij", vectors, vectors).flatten(1), dim=1)
    sims = grams @ grams.T
    expected = -(sims.sum(1) - sims.diagonal()) / 3
    torch.testing.assert_close(diversity("v")({"v": vectors}), expected)
