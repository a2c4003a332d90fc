"""Probes of what a network relies on: texture-vs-shape bias, atlas-derived patch attacks."""
from deepscope.probes.decisions import Observer, read_decisions, score_files, write_decisions
from deepscope.probes.evaluate import accuracy, decide
from deepscope.probes.shape_bias import Decision, ShapeBias, shape_bias
from deepscope.probes.shape_run import measure_model
from deepscope.probes.sixteen import SixteenClassMapping, load_mapping
from deepscope.probes.stimuli import Stimulus, find_cue_conflict, find_single_cue

__all__ = [
    "Decision",
    "Observer",
    "ShapeBias",
    "SixteenClassMapping",
    "Stimulus",
    "accuracy",
    "decide",
    "find_cue_conflict",
    "find_single_cue",
    "load_mapping",
    "measure_model",
    "read_decisions",
    "score_files",
    "shape_bias",
    "write_decisions",
]
