"""The shipped digits models (a timm ViT and a small CNN, trained by scripts/train_digits.py): loaded
offline by name, and what deepscope shows of the ViT is real (renders, channels, top-k tokens)."""
import numpy as np
import pytest
import torch
from torch import nn

from deepscope.atlas import build_atlas, collect
from deepscope.data.images import load_image_resized
from deepscope.errors import DeepscopeError
from deepscope.examples import collect_top_examples
from deepscope.models import layer_spec, load_model
from deepscope.models.capture import activations
from deepscope.models.digits import digits_images, train_test_indices, write_digit_images
from deepscope.render import channel, class_logit, render, score_images
from deepscope.render.param import FourierImage
from deepscope.render.transforms import jitter, pad, scale_rotate, until

MIDDLE = "blocks.2"


@pytest.fixture(scope="module")
def vit():
    return load_model("digits_vit")


@pytest.fixture(scope="module")
def cnn():
    return load_model("digits_cnn")


@pytest.fixture(scope="module")
def digits():
    return digits_images()


class GreyFourier(nn.Module):
    """A Fourier image whose three channels are averaged: grey renders, as the digits are."""

    def __init__(self, batch: int, size: int = 32, seed: int = 0):
        super().__init__()
        self.inner = FourierImage(batch, size, size, decorrelated=False, generator=torch.Generator().manual_seed(seed))

    def forward(self):
        return self.inner().mean(1, keepdim=True).expand(-1, 3, -1, -1)


def digit_transforms(steps: int) -> list:
    """Jitter, zoom and rotation sized for 32 px digits (black padding), off for the last steps."""
    zooms = [0.9 + 0.02 * i for i in range(11)]
    return [until(int(steps * 0.85), [pad(4, 0.0), jitter(4), scale_rotate(zooms, list(range(-10, 11)), 0.0),
                                      jitter(4)])]


def test_loaded_offline_by_name(vit, cnn, digits):
    images, labels = digits
    _, test = train_test_indices()
    for model in (vit, cnn):
        assert model.classes == [str(d) for d in range(10)] and model.input_size == 32
        with torch.no_grad():
            accuracy = (model(images[test]).argmax(1) == labels[test]).float().mean().item()
        assert accuracy > 0.95, (model.name, accuracy)
    assert type(vit.net).__name__ == "VisionTransformer"
    assert layer_spec(vit, MIDDLE).describe() == "tokens 17 = 1 prefix + 4x4 patches, 64 channels"
    assert layer_spec(cnn, "layer2").describe() == "map 64x16x16"
    fresh = load_model("digits_vit", pretrained=False)
    assert not torch.equal(fresh.net.head.weight, vit.net.head.weight)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(DeepscopeError, match="does not exist"):
        load_model("digits_cnn", weights=tmp_path / "none.pt")


@pytest.mark.slow
def test_class_renders_are_the_class_for_both_models(vit, cnn):
    steps = 96
    result = render(vit, [class_logit(d) for d in range(10)], size=32, steps=steps, param=GreyFourier(10),
                    transforms=digit_transforms(steps), progress=False)
    with torch.no_grad():
        own, other = vit(result.images).argmax(1), cnn(result.images).argmax(1)
    assert own.tolist() == list(range(10))
    assert (other == torch.arange(10)).sum() >= 8, other.tolist()


def test_channel_renders_beat_every_real_digit(vit, digits):
    units = [0, 9, 18, 27, 36, 45, 54, 63]
    objectives = [channel(MIDDLE, u) for u in units]
    steps = 128
    result = render(vit, objectives, size=32, steps=steps, param=GreyFourier(len(units)),
                    transforms=digit_transforms(steps), progress=False)
    best_real = score_images(vit, objectives, digits[0], batch_size=256).max(0).values
    rendered = score_images(vit, objectives, result.images).diagonal()
    assert torch.allclose(rendered, result.scores, atol=1e-4)
    assert (rendered > best_real).all(), (rendered, best_real)


def test_top_tokens_equal_a_brute_force_pass(vit, digits, tmp_path):
    images, labels = digits
    files = write_digit_images(tmp_path / "digits", images[:300], labels[:300])
    k = 5
    found = collect_top_examples(vit, MIDDLE, files, k=k, batch_size=7, progress=False)
    loaded = torch.stack([load_image_resized(f, 32) for f in files])
    grid = activations(vit, loaded, [MIDDLE], canonical=True)[MIDDLE]  # (N, 64, 4, 4), class token apart
    flat = grid.flatten(2)
    best, where = flat.max(2)  # (N, C)
    order = torch.sort(best.T, dim=1, descending=True, stable=True).indices[:, :k]  # (C, k)
    assert torch.equal(found.topk.images, order)
    assert torch.allclose(found.topk.scores, best.T.gather(1, order))
    position = where.T.gather(1, order)
    assert torch.equal(found.topk.positions, torch.stack([position // 4, position % 4], -1))


def test_atlas_of_tokens_is_coherent_and_groups_digits(vit, digits, tmp_path):
    images, labels = digits
    write_digit_images(tmp_path / "digits", images[:400], labels[:400])
    store = collect(vit, MIDDLE, tmp_path / "digits", tmp_path / "store", positions=1, progress=False)
    atlas = build_atlas(None, store, MIDDLE, grid=6, threshold=3, layout="pca", icons=None, progress=False)
    digit = np.array([int(name.split("_")[1].split(".")[0]) for name in store.ids])[store.image]
    shuffled = np.random.default_rng(0).permutation(digit)

    def purity(rows):
        return sum(np.bincount(rows[m]).max() for m in atlas.grid.members) / sum(len(m) for m in atlas.grid.members)
    assert atlas.coherence["ratio"] > 1
    assert purity(digit) > purity(shuffled) + 0.1, (purity(digit), purity(shuffled))


def test_renders_at_a_size_that_is_not_a_multiple_of_the_patch(vit):
    from deepscope.render import channel, render

    result = render(vit, channel("blocks.2", 0), size=30, steps=2, progress=False)
    assert result.images.shape == (1, 3, 30, 30) and torch.isfinite(result.scores).all()



def test_cli_atlas_of_the_class_token_groups_digits(vit, digits, tmp_path):
    """`deepscope atlas --tokens class`: one class token per digit, icons on the class token, and the
    digits closest to each cell's direction mostly share one digit (chance: about 0.35)."""
    import json

    from deepscope.atlas.collection.store import open_store
    from deepscope.cli import main

    images, labels = digits
    write_digit_images(tmp_path / "digits", images[:150], labels[:150])
    out = tmp_path / "atlas"
    assert main(["atlas", "--model", "digits_vit", "--layer", MIDDLE, "--images", str(tmp_path / "digits"),
                 "--tokens", "class", "--no-attribution", "--layout", "pca", "--grid", "4", "--threshold", "2",
                 "--icon-size", "32", "--steps", "4", "--attempts", "1", "--out", str(out), "--no-progress"]) == 0
    store = open_store(out / "activations")
    assert len(store) == 150 and (store.pos == [-1, 0]).all()
    written = json.loads((out / "atlas.json").read_text())
    assert written["params"]["icons"]["token"] == 0
    digit = np.array([int(name.split("_")[1].split(".")[0]) for name in store.ids])
    members = [digit[[store.ids.index(e["image"]) for e in c["sources"]]] for c in written["cells"]]
    assert np.mean([np.bincount(m).max() / len(m) for m in members]) > 0.6
