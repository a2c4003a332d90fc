"""Multi-use features: units of a layer that support unrelated classes (docs/probes.md)."""
from deepscope.probes.multiuse.candidates import Unit, rank_units, score_unit
from deepscope.probes.multiuse.relatedness import class_cosines
from deepscope.probes.multiuse.request import MultiuseRequest
from deepscope.probes.multiuse.run import find_multiuse
from deepscope.probes.multiuse.support import cell_support, channel_support, holdout_split
from deepscope.probes.multiuse.validation import ValidationSettings, Validator, judge

__all__ = ["MultiuseRequest", "Unit", "ValidationSettings", "Validator", "cell_support", "channel_support",
           "class_cosines", "find_multiuse", "holdout_split", "judge", "rank_units", "score_unit"]
