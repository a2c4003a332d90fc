"""Objective algebra is exact and the built-in objectives compute what they say."""
import pytest
import torch

from deepscope.render import objectives as O


@pytest.fixture
def acts():
    torch.manual_seed(0)
    return {"layer": torch.randn(3, 4, 5, 5), "logits": torch.randn(3, 10)}


def test_channel_is_spatial_mean(acts):
    assert torch.allclose(O.channel("layer", 2)(acts), acts["layer"][:, 2].mean((1, 2)))


@pytest.mark.parametrize("build, expected", [
    (lambda a, b: a + 2 * b, lambda x, y: x + 2 * y),
    (lambda a, b: a - b, lambda x, y: x - y),
    (lambda a, b: -a, lambda x, y: -x),
    (lambda a, b: 3 * a, lambda x, y: 3 * x),
    (lambda a, b: a * 3 - b / 2, lambda x, y: 3 * x - y / 2),
    (lambda a, b: 2 * (a + 2 * b) - b, lambda x, y: 2 * x + 3 * y),
    (lambda a, b: a + a, lambda x, y: 2 * x),
])
def test_algebra_is_exact(acts, build, expected):
    a, b = O.channel("layer", 0), O.class_logit(3)
    x, y = a(acts), b(acts)
    assert torch.allclose(build(a, b)(acts), expected(x, y))


def test_multipliers_do_not_compound(acts):
    a, b = O.channel("layer", 0), O.channel("layer", 1)
    combined = a + 2 * b
    assert torch.allclose(combined(acts), a(acts) + 2 * b(acts))
    assert not torch.allclose(combined(acts), 2 * a(acts) + 2 * b(acts))


def test_layers_are_collected(acts):
    obj = O.channel("layer", 0) - 0.5 * O.class_logit(1)
    assert set(obj.layers) == {"layer", "logits"}


def test_at_targets_batch_index(acts):
    a = O.channel("layer", 1)
    score = a.at(1)(acts)
    assert score[0] == 0 and score[2] == 0 and score[1] == a(acts)[1]
    both = (a.at(0) + O.channel("layer", 2).at(2))(acts)
    assert torch.allclose(both, torch.stack([a(acts)[0], torch.tensor(0.0), acts["layer"][2, 2].mean()]))


def test_neuron_defaults_to_centre(acts):
    assert torch.allclose(O.neuron("layer", 1)(acts), acts["layer"][:, 1, 2, 2])
    assert torch.allclose(O.neuron("layer", 1, x=0, y=4)(acts), acts["layer"][:, 1, 4, 0])


def test_deepdream_and_direction(acts):
    x = acts["layer"]
    assert torch.allclose(O.deepdream("layer")(acts), x.pow(2).mean((1, 2, 3)))
    vec = torch.tensor([1.0, 0.0, -1.0, 2.0])
    expected = (x * vec[None, :, None, None]).sum(1).mean((1, 2))
    assert torch.allclose(O.direction("layer", vec)(acts), expected, atol=1e-6)


def test_direction_cossim_prefers_aligned_vectors():
    vec = torch.tensor([1.0, 0.0, 0.0])
    aligned = torch.tensor([[2.0, 0.0, 0.0]])[..., None, None]
    oblique = torch.tensor([[2.0, 2.0, 0.0]])[..., None, None]
    obj = O.direction_cossim("l", vec, power=2)
    assert obj({"l": aligned}).item() == pytest.approx(2.0 * (2 / (2 + 1e-4)) ** 2, rel=1e-4)
    # the oblique vector has the same dot product but a lower cosine
    assert obj({"l": oblique}) < obj({"l": aligned})


def test_diversity_is_lowest_for_identical_images():
    same = torch.ones(3, 2, 4, 4)
    assert torch.allclose(O.diversity("l")({"l": same}), torch.full((3,), -2 / 3))
    torch.manual_seed(1)
    different = torch.rand(3, 2, 4, 4) * torch.tensor([1.0, 0.0])[None, :, None, None]
    different[1] = torch.rand(2, 4, 4) * torch.tensor([0.0, 1.0])[:, None, None]
    assert (O.diversity("l")({"l": different}) > -2 / 3).all()


def test_combining_with_non_objective_fails():
    with pytest.raises(TypeError):
        O.channel("layer", 0) + "x"
