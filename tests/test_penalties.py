"""Image penalties are objectives on "input": the values they say, and renders that obey them."""
import pytest
import torch

from deepscope.errors import DeepscopeError
from deepscope.render import blur, channel, l2, render, total_variation


@pytest.fixture
def image():
    # one image, one channel: rows [0, 1, 3] and [2, 2, 2]
    return {"input": torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])}


def test_total_variation_is_the_sum_of_neighbour_differences(image):
    # across: |1-0| + |3-1| + 0 + 0 = 3; down: |2-0| + |2-1| + |2-3| = 4
    assert total_variation()(image).tolist() == [7.0]


def test_l2_and_blur_by_hand(image):
    x = image["input"]
    assert torch.allclose(l2()(image), torch.sqrt(1e-6 + ((x - 0.5) ** 2).sum()).view(1))
    flat = {"input": torch.full((2, 3, 8, 8), 0.3)}
    assert torch.allclose(blur()(flat), torch.zeros(2), atol=1e-10)  # nothing to blur
    assert (blur()({"input": torch.rand(2, 3, 8, 8)}) > 0).all()


def test_penalties_subtract_and_keep_the_target(image):
    objective = channel("layer", 0) - 1e-3 * total_variation()
    acts = {"layer": torch.ones(1, 2, 3, 3), **image}
    assert objective(acts).item() == pytest.approx(1 - 7e-3)
    assert objective.meta == {"kind": "channel", "layer": "layer", "unit": 0}
    assert set(objective.layers) == {"layer", "input"}
    with pytest.raises(DeepscopeError, match="spatial map"):
        total_variation("logits")({"logits": torch.zeros(1, 10)})


def test_a_total_variation_penalty_gives_smoother_renders(model):
    kwargs = {"size": 48, "steps": 24, "seed": 1, "progress": False, "param": "pixel"}
    target = channel("blocks.3", 5)
    plain = render(model, [target], **kwargs)
    smooth = render(model, [target - 0.05 * total_variation()], **kwargs)
    tv = total_variation()
    assert tv({"input": smooth.images}) < 0.8 * tv({"input": plain.images})
