"""Saliency maps (captum-backed, every rectifier honoured) and their sanity checks."""
from deepscope.attribution.attribute import Attribution, attribute
from deepscope.attribution.cam_layer import cam_layer, last_conv_layer
from deepscope.attribution.maps import normalize_abs, normalize_signed, to_map
from deepscope.attribution.methods import METHODS, get_method, method_names
from deepscope.attribution.targets import resolve_targets

__all__ = [
           "METHODS",
           "Attribution",
           "attribute",
           "cam_layer",
           "get_method",
           "last_conv_layer",
           "method_names",
           "normalize_abs",
           "normalize_signed",
           "resolve_targets",
           "to_map",
]
