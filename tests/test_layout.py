"""Layer layouts: maps, channels-last maps, tokens with prefix tokens, vectors, read through one spec."""
import numpy as np
import pytest
import torch
from helpers import TinyTokens
from torch import nn

from deepscope.atlas import IconSettings, build_atlas, collect
from deepscope.atlas.collection.forward import sample_activations, sample_with_attribution
from deepscope.atlas.quality import centre_activations
from deepscope.errors import DeepscopeError
from deepscope.examples import receptive_field
from deepscope.models import capture, from_module, layer_spec, list_layers
from deepscope.models.layout import SPATIAL, prefix_key, spec_from_shape
from deepscope.render import channel
from deepscope.render.subspace import projector, restrict_gradient

SIZE, PATCH, WIDTH, PREFIX, CLASSES = 32, 4, 12, 5, 6  # an 8 x 8 patch grid; 1 class + 4 register tokens
GRID = SIZE // PATCH


class TinyChannelsLast(nn.Module):
    """A stem, then a stage that works on a (B, H, W, C) map (as Swin's stages do), then a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, WIDTH, PATCH, PATCH)
        self.stage = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.GELU())
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, x):
        stage = self.stage(self.stem(x).permute(0, 2, 3, 1))
        return self.head(stage.mean((1, 2)))


def _model(net: nn.Module):
    torch.manual_seed(0)
    return from_module(net, mean=(0, 0, 0), std=(1, 1, 1), input_size=SIZE, name=type(net).__name__,
                       classes=[f"class {i}" for i in range(CLASSES)])


@pytest.fixture(scope="module")
def tokens_model():
    torch.manual_seed(0)
    return _model(TinyTokens(PREFIX, CLASSES, WIDTH, PATCH))


@pytest.fixture(scope="module")
def last_model():
    torch.manual_seed(0)
    return _model(TinyChannelsLast())


def _images(count=3, seed=0):
    return torch.rand(count, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _raw(model, layer, images):
    """The layer's output as the module returns it (a hook, no capture)."""
    saved = {}
    handle = model.module(layer).register_forward_hook(lambda _m, _i, out: saved.setdefault("out", out))
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    return saved["out"]


def test_spec_from_shape_reads_each_layout():
    conv = spec_from_shape("blocks.4", (112, 14, 14))
    assert (conv.kind, conv.channels, conv.grid, conv.prefix) == ("map", 112, (14, 14), 0)
    assert conv.describe() == "map 112x14x14" and conv.channel_axis == 1
    swin = spec_from_shape("layers.2", (14, 14, 384))
    assert (swin.kind, swin.channels, swin.grid) == ("map_last", 384, (14, 14)) and swin.channel_axis == -1
    assert swin.describe() == "map 384x14x14 (channels last)"
    vit = spec_from_shape("blocks.6", (197, 768))  # 197 = 1 class token + 14 x 14 patches
    assert (vit.kind, vit.channels, vit.grid, vit.prefix) == ("tokens", 768, (14, 14), 1)
    assert vit.describe() == "tokens 197 = 1 prefix + 14x14 patches, 768 channels"
    registers = spec_from_shape("blocks.6", (201, 384), num_prefix_tokens=5)  # class + 4 registers
    assert (registers.kind, registers.grid, registers.prefix) == ("tokens", (14, 14), 5)
    assert spec_from_shape("blocks.6", (201, 384)).prefix == 5  # the remainder above 14 x 14, unaided
    assert spec_from_shape("blocks.6", (196, 384)).prefix == 0
    logits = spec_from_shape("logits", (1000,))
    assert (logits.kind, logits.channels, logits.grid, logits.spatial) == ("vector", 1000, None, False)
    with pytest.raises(DeepscopeError, match="cannot read"):
        spec_from_shape("qkv", (3, 6, 197, 64))


def test_grid_view_matches_the_hand_permuted_tensor():
    x = torch.randn(2, 7, 7, 24)
    swin = spec_from_shape("stage", tuple(x.shape[1:]))
    assert torch.equal(swin.grid_view(x), x.permute(0, 3, 1, 2))
    tokens = torch.randn(2, PREFIX + 6 * 6, 10)
    vit = spec_from_shape("blocks", tuple(tokens.shape[1:]), PREFIX)
    grid = vit.grid_view(tokens)
    assert grid.shape == (2, 10, 6, 6)
    for y, x_ in ((0, 0), (2, 5), (5, 3)):  # patch (y, x) is token PREFIX + 6y + x, row by row
        assert torch.equal(grid[:, :, y, x_], tokens[:, PREFIX + 6 * y + x_])
    assert torch.equal(vit.prefix_tokens(tokens), tokens[:, :PREFIX])
    assert torch.equal(vit.raw_view(grid, vit.prefix_tokens(tokens)), tokens)
    assert torch.equal(swin.raw_view(swin.grid_view(x)), x)


def test_canonical_capture_of_a_token_layer_hands_out_the_grid_and_the_prefix(tokens_model):
    images = _images()
    raw = _raw(tokens_model, "blocks", images)
    with torch.no_grad(), capture(tokens_model, ["blocks"], canonical=True) as cap:
        acts = cap(images)
    grid, prefix = acts["blocks"], acts[prefix_key("blocks")]
    assert grid.shape == (3, WIDTH, GRID, GRID) and prefix.shape == (3, PREFIX, WIDTH)
    hand = raw[:, PREFIX:].reshape(3, GRID, GRID, WIDTH).permute(0, 3, 1, 2)
    assert torch.equal(grid, hand) and torch.equal(prefix, raw[:, :PREFIX])
    spec = layer_spec(tokens_model, "blocks")
    assert (spec.kind, spec.grid, spec.prefix, spec.channels) == ("tokens", (GRID, GRID), PREFIX, WIDTH)
    layouts = {i.name: i.layout for i in list_layers(tokens_model)}
    assert layouts["blocks"] == f"tokens {PREFIX + GRID * GRID} = {PREFIX} prefix + 8x8 patches, {WIDTH} channels"
    assert layouts["patch_embed"] == f"map {WIDTH}x8x8" and layouts["head"] == f"vector {CLASSES}"


def test_channel_objective_on_tokens_is_the_mean_over_patch_tokens(tokens_model):
    images = _images()
    raw = _raw(tokens_model, "blocks", images)
    with torch.no_grad(), capture(tokens_model, ["blocks"], canonical=True) as cap:
        scores = channel("blocks", 3).score(cap(images))
    assert torch.allclose(scores, raw[:, PREFIX:, 3].mean(1), atol=1e-6)
    assert not torch.allclose(scores, raw[:, :, 3].mean(1), atol=1e-4)  # the prefix tokens are left out


@pytest.mark.parametrize("layer_of", [("tokens_model", "blocks"), ("last_model", "stage")])
def test_atlas_attribution_on_tokens_and_channels_last_matches_autograd(layer_of, request):
    model, layer = request.getfixturevalue(layer_of[0]), layer_of[1]
    spec = layer_spec(model, layer)
    images = _images(2)
    pos = torch.tensor([[[1, 2], [6, 0]], [[3, 3], [0, 7]]])
    if spec.kind == "tokens":  # (-1, j) is prefix token j: the class token and the last register token
        pos[0, 1], pos[1, 0] = torch.tensor([-1, 0]), torch.tensor([-1, PREFIX - 1])
    acts, attr = sample_with_attribution(model, layer, images, pos)
    assert acts.shape == (4, WIDTH) and attr.shape == (4, CLASSES)
    assert torch.allclose(acts, sample_activations(model, layer, images, pos), atol=1e-6)
    _, by_input = sample_with_attribution(model, layer, images, pos, expand_at="input")
    assert torch.allclose(by_input, attr, atol=1e-5)
    raw = _raw(model, layer, images).detach().requires_grad_(True)
    handle = model.module(layer).register_forward_hook(lambda *_: raw)
    try:
        logits = model(images)
    finally:
        handle.remove()
    for row, (b, k) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        y, x = pos[b, k].tolist()
        at = (b, (x if y < 0 else PREFIX + GRID * y + x)) if spec.kind == "tokens" else (b, y, x)
        assert torch.allclose(acts[row], raw[at].detach(), atol=1e-6)
        for cls in (0, CLASSES - 1):
            grad, = torch.autograd.grad(logits[b, cls], raw, retain_graph=True)
            assert attr[row, cls].item() == pytest.approx((grad[at] * raw[at]).sum().item(), rel=1e-4, abs=1e-6)


def test_atlas_collection_reads_a_token_layer(tokens_model, tmp_path):
    images = [image for image in _images(4, seed=1)]
    store = collect(tokens_model, "blocks", images, tmp_path / "store", positions=2, attribution=True,
                    batch_size=3, progress=False)
    assert store.meta["channels"] == WIDTH and store.meta["map_size"] == [GRID, GRID]
    assert store.acts.shape == (8, WIDTH) and store.attr.shape == (8, CLASSES)
    raw = _raw(tokens_model, "blocks", torch.stack(images))
    for row in (0, 5):
        y, x = store.pos[row].tolist()
        expected = raw[int(store.image[row]), PREFIX + GRID * y + x]
        assert torch.allclose(torch.from_numpy(store.acts[row]), expected, atol=1e-5)


def test_class_token_collection_takes_one_class_token_per_image(tokens_model, last_model, tmp_path):
    images = [image for image in _images(5, seed=2)]
    store = collect(tokens_model, "mix", images, tmp_path / "store", positions=4, tokens="class",
                    attribution=True, progress=False)
    assert store.acts.shape == (5, WIDTH) and store.pos.tolist() == [[-1, 0]] * 5
    raw = _raw(tokens_model, "mix", torch.stack(images))
    assert torch.allclose(torch.from_numpy(store.acts), raw[:, 0], atol=1e-5)
    with pytest.raises(DeepscopeError, match="class token needs a token layer"):
        collect(last_model, "stage", images, tmp_path / "other", tokens="class", progress=False)
    atlas = build_atlas(tokens_model, store, grid=1, threshold=1, layout="pca", progress=False,
                        icons=IconSettings(size=SIZE, steps=32, attempts=1, transforms="none", polish=0))
    assert atlas.params["icons"]["token"] == 0  # icons maximize the direction on the class token
    # the icon's class token scores above every real class token of its cell under the icon objective
    assert atlas.fidelity["beats_real"] == [True]
    grey = centre_activations(tokens_model, "mix", torch.full((1, 3, SIZE, SIZE), 0.5), token=0)
    assert not np.allclose(grey, centre_activations(tokens_model, "mix", atlas.icons, token=0))


def test_vector_layers_fail_clearly_where_a_grid_is_needed(tokens_model, tmp_path):
    with pytest.raises(DeepscopeError) as err:
        collect(tokens_model, "logits", [_images(1)[0]], tmp_path / "store", progress=False)
    message = str(err.value)
    assert "an atlas needs" in message and f"'logits' gives vector {CLASSES}" in message
    assert "feature map" in message and "tokens on a patch grid" in message and "deepscope layers" in message
    assert "layers that would work: " in message and "blocks" in message.split("would work: ")[1]
    assert not (tmp_path / "store").exists()
    with pytest.raises(DeepscopeError, match=f"Grad-CAM needs a layer with .*'head' gives vector {CLASSES}"):
        layer_spec(tokens_model, "head").require(*SPATIAL, method="Grad-CAM")
    assert layer_spec(tokens_model, "blocks").require(*SPATIAL, method="Grad-CAM").kind == "tokens"
    with pytest.raises(DeepscopeError, match=f"channel {WIDTH} is out of range: layer 'blocks' has {WIDTH}"):
        layer_spec(tokens_model, "blocks").check_channels([0, WIDTH])


def test_subspace_projects_the_channel_axis_of_tokens(tokens_model):
    basis = torch.randn(3, WIDTH, generator=torch.Generator().manual_seed(2))
    x = _images(1).requires_grad_(True)
    with restrict_gradient(tokens_model, "blocks", basis) as matrix:
        restricted, = torch.autograd.grad(tokens_model(x)[0, 1], x)
    saved = {}
    handle = tokens_model.module("blocks").register_forward_hook(lambda _m, _i, out: saved.setdefault("h", out))
    try:
        logit = tokens_model(x)[0, 1]
    finally:
        handle.remove()
    g, = torch.autograd.grad(logit, saved["h"], retain_graph=True)
    expected, = torch.autograd.grad(saved["h"], x, grad_outputs=g @ projector(basis))
    assert torch.allclose(restricted, expected, atol=1e-6) and torch.allclose(matrix, projector(basis))
    with pytest.raises(DeepscopeError, match=f"the basis has 3 channels but 'patch_embed' has {WIDTH}"):
        restrict_gradient(tokens_model, "patch_embed", torch.randn(3, 3)).__enter__()


def test_receptive_field_of_a_channels_last_stage_is_its_patch(last_model):
    field = receptive_field(last_model, "stage")
    assert field.grid == (GRID, GRID) and field.size == PATCH
    assert field.box(2, 5) == (5 * PATCH, 2 * PATCH, 6 * PATCH, 3 * PATCH)


def test_class_difference_direction_of_tokens_averages_the_patch_tokens(tokens_model):
    from deepscope.probes.patch_sources import class_difference_direction

    images = _images(3)
    vec = class_difference_direction(tokens_model, "blocks", 0, 1, images, batch_size=2)
    raw = _raw(tokens_model, "blocks", images).detach().requires_grad_(True)
    handle = tokens_model.module("blocks").register_forward_hook(lambda *_: raw)
    try:
        logits = tokens_model(images)
    finally:
        handle.remove()
    grad, = torch.autograd.grad((logits[:, 1] - logits[:, 0]).sum(), raw)
    assert vec.shape == (WIDTH,) and torch.allclose(vec, grad[:, PREFIX:].mean((0, 1)), atol=1e-6)
