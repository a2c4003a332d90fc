"""The feature-visualization engine: objectives, parameterizations, transforms, one loop."""
from deepscope.render.objectives import (
    Objective,
    channel,
    class_logit,
    custom,
    deepdream,
    direction,
    direction_cossim,
    diversity,
    neuron,
)
from deepscope.render.optimize import RenderResult, render, score_images
from deepscope.render.param import FixedImage, FourierImage, MacoImage, PixelImage, make_param
from deepscope.render.transforms import TRANSFORM_SETS, standard_transforms

__all__ = [
    "TRANSFORM_SETS",
    "FixedImage",
    "FourierImage",
    "MacoImage",
    "Objective",
    "PixelImage",
    "RenderResult",
    "channel",
    "class_logit",
    "custom",
    "deepdream",
    "direction",
    "direction_cossim",
    "diversity",
    "make_param",
    "neuron",
    "render",
    "score_images",
    "standard_transforms",
]
