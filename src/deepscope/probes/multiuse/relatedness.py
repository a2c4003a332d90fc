"""How related two classes are in the model's own class space: the cosine of the classifier's weight
rows (`models.heads.classifier_head`: the last linear layer). Sibling classes share directions
(EfficientNet-Lite0: tiger shark / great white shark 0.37, beagle / basset 0.39) while most pairs
sit near 0 (median -0.004, 99th percentile 0.12; great white shark / baseball 0.03). No class
hierarchy is used: none is available offline for every model."""
from __future__ import annotations

import numpy as np
import torch

from deepscope.errors import DeepscopeError
from deepscope.models.heads import classifier_head
from deepscope.models.vision_model import VisionModel

UNRELATED = 0.1  # classes whose rows' cosine is below this count as unrelated (~98% of Lite0's pairs)


def class_cosines(model: VisionModel, num_classes: int) -> np.ndarray:
    """(classes, classes) cosine between the classifier's weight rows."""
    head = classifier_head(model)
    if head is None:
        raise DeepscopeError(f"{model.name} has no classifier layer (no nn.Linear): multi-use features need a "
                             "classifier; use a classification model")
    name, linear = head
    if linear.out_features != num_classes:
        raise DeepscopeError(f"the classifier layer {name!r} of {model.name} has {linear.out_features} outputs but "
                             f"the store attributes to {num_classes} classes: use the store's model (--model)")
    rows = torch.nn.functional.normalize(linear.weight.detach().float().cpu(), dim=1)
    return (rows @ rows.T).numpy()
