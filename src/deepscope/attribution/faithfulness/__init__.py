"""Faithfulness of saliency maps: deletion and insertion, ROAD, Random Logit, Sparseness."""
from deepscope.attribution.faithfulness.curves import Curves, blur, deletion, insertion, pixel_ranks
from deepscope.attribution.faithfulness.random_logit import random_logit, random_logit_classes, ssim
from deepscope.attribution.faithfulness.road import PERCENTAGES, RoadCurves, road
from deepscope.attribution.faithfulness.sparseness import sparseness

__all__ = ["PERCENTAGES", "Curves", "RoadCurves", "blur", "deletion", "insertion", "pixel_ranks", "random_logit",
           "random_logit_classes", "road", "sparseness", "ssim"]
