"""The feature-visualization engine: objectives, parameterizations, transforms, one loop."""
from deepscope.render.driver import RenderGroup, render_batches, render_to_folder
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
from deepscope.render.param import PARAMS, FourierImage, MacoImage, PixelImage, make_param, register_param
from deepscope.render.penalties import blur, l2, total_variation
from deepscope.render.tokens import token
from deepscope.render.transforms import (
    TRANSFORM_SETS,
    StepTransform,
    icon_transforms,
    register_transforms,
    standard_transforms,
    until,
)

__all__ = [
    "PARAMS",
    "TRANSFORM_SETS",
    "FourierImage",
    "MacoImage",
    "Objective",
    "PixelImage",
    "RenderGroup",
    "RenderResult",
    "StepTransform",
    "blur",
    "channel",
    "class_logit",
    "custom",
    "deepdream",
    "direction",
    "direction_cossim",
    "diversity",
    "icon_transforms",
    "l2",
    "make_param",
    "neuron",
    "register_param",
    "register_transforms",
    "render",
    "render_batches",
    "render_to_folder",
    "score_images",
    "standard_transforms",
    "token",
    "total_variation",
    "until",
]
