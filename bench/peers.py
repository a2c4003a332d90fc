"""The renderers under comparison, called as a user of each library would call them.

Every runner takes (model, layer, channels, size, steps, seed) and returns the final,
untransformed images (N, 3, size, size) in [0, 1] on the CPU, image i for channels[i].
The peers get the same network (`model.net`) and the same input normalization
(mean = std = 0.5 for the embedded EfficientNet-Lite0) as deepscope.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence

import numpy as np
import torch

from deepscope.models import VisionModel
from deepscope.render import channel, render

Runner = Callable[..., torch.Tensor]


def seed_everything(seed: int) -> None:
    """Peers draw from the global RNGs (numpy for Lucent's transforms, torch for both)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def normalizer(model: VisionModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's own input normalization, as a function for the peers' preprocess hooks."""
    mean, std = model.mean.clone(), model.std.clone()
    return lambda images: (images - mean) / std


@contextlib.contextmanager
def removing_new_hooks(net: torch.nn.Module):
    """Remove every forward hook added inside the block (Lucent never removes its hooks, so each
    call would otherwise slow down every later forward pass of the shared network)."""
    before = {id(m): set(m._forward_hooks) for m in net.modules()}
    try:
        yield
    finally:
        for module in net.modules():
            for key in set(module._forward_hooks) - before.get(id(module), set()):
                del module._forward_hooks[key]


def deepscope_render(model: VisionModel, layer: str, channels: Sequence[int], size: int, steps: int,
                     seed: int = 0) -> torch.Tensor:
    """deepscope with its defaults (fft, standard transforms, redirected ReLU for 16 steps)."""
    result = render(model, [channel(layer, c) for c in channels], size=size, steps=steps, seed=seed,
                    progress=False)
    return result.images


def lucent_render(model: VisionModel, layer: str, channels: Sequence[int], size: int, steps: int,
                  seed: int = 0) -> torch.Tensor:
    """Lucent's render_vis: default fft/decorrelated image, standard transforms, Adam 0.05; one batch
    with `channel(layer, n, batch=i)` summed. Lucent upsamples inputs below 224 px to 224 (kept, as
    a user gets it); its ImageNet `preprocess` is swapped for the model's own normalization."""
    from lucent.optvis import objectives, param, transform
    from lucent.optvis import render as lrender

    seed_everything(seed)
    name = layer.replace(".", "_")
    objective = objectives.Objective.sum(
        [objectives.channel(name, c, batch=i) for i, c in enumerate(channels)])
    transforms = transform.standard_transforms + [normalizer(model)]
    with removing_new_hooks(model.net):
        images = lrender.render_vis(
            model.net, objective, param_f=lambda: param.image(size, batch=len(channels)),
            transforms=transforms, thresholds=(steps,), preprocess=False, progress=False,
            show_image=False)
    return torch.from_numpy(images[-1]).permute(0, 3, 1, 2).contiguous()


def dreamlens_render(model: VisionModel, layer: str, channels: Sequence[int], size: int, steps: int,
                     seed: int = 0) -> torch.Tensor:
    """dreamlens `FeatureVisualizer.maximize_channels`: channel mean objective, its default
    RenderConfig (AdamW 9e-3, grad clip 1, scale 0.5-1.2, rotate 15) at `size` and `steps`."""
    from dreamlens import FeatureVisualizer, RenderConfig

    seed_everything(seed)
    viz = FeatureVisualizer(model.net, quiet=True, preprocess=normalizer(model))
    result = viz.maximize_channels(layer, list(channels),
                                   config=RenderConfig(width=size, height=size, steps=steps))
    return result.image.as_nchw().clamp(0, 1)


def dreamlens_neurons(model: VisionModel, layer: str, channels: Sequence[int], size: int, steps: int,
                      seed: int = 0) -> torch.Tensor:
    """dreamlens `render_channels`, which is an alias of `render_neurons`: it maximizes the centre
    neuron of each channel (not the channel mean), icon transforms, Adam 0.05; one attempt
    (its default is 3, best kept) so that a step means the same as elsewhere."""
    from dreamlens import render_channels

    seed_everything(seed)
    images, _ = render_channels(list(channels), model.net, layer, size=size, n_steps=steps,
                                num_attempts=1, preprocess=normalizer(model))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


RUNNERS: dict[str, Runner] = {
    "deepscope": deepscope_render,
    "lucent": lucent_render,
    "dreamlens": dreamlens_render,
    "dreamlens_neurons": dreamlens_neurons,
}
