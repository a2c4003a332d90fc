"""Model diffing: two models' layers compared at the same image positions (docs/diff.md).

    from deepscope.diff import diff_models
    result = diff_models(model_a, "blocks.5", model_b, "blocks.5", "images/", "store/")
    result.r2, result.top_class_survival, result.save("out/")   # diff.png, diff.json
"""
from deepscope.diff.aligned import Aligned, carry_positions, collect_aligned
from deepscope.diff.cells import CellScores, cell_scores
from deepscope.diff.report import DIFF_ICONS, ModelDiff, diff_models
from deepscope.diff.ridge import LinearMap, fit_map
from deepscope.diff.sides import Side, side

__all__ = ["DIFF_ICONS", "Aligned", "CellScores", "LinearMap", "ModelDiff", "Side", "carry_positions", "cell_scores",
           "collect_aligned", "diff_models", "fit_map", "side"]
