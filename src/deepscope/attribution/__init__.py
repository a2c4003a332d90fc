"""Saliency maps (captum-backed, every rectifier honoured) and their sanity checks."""
from deepscope.attribution.attribute import Attribution, attribute
from deepscope.attribution.cam_layer import cam_layer, last_conv_layer
from deepscope.attribution.maps import normalize_abs, normalize_signed, to_map
from deepscope.attribution.methods import (
           METHODS,
           Method,
           get_method,
           method_names,
           parse_methods,
           register_method,
)
from deepscope.attribution.report import Explained, explain, explain_batches, saliency_folder, sanity_folder
from deepscope.attribution.targets import resolve_targets, target_forward

__all__ = [
           "METHODS",
           "Attribution",
           "Explained",
           "Method",
           "attribute",
           "cam_layer",
           "explain",
           "explain_batches",
           "get_method",
           "last_conv_layer",
           "method_names",
           "normalize_abs",
           "normalize_signed",
           "parse_methods",
           "register_method",
           "resolve_targets",
           "saliency_folder",
           "sanity_folder",
           "target_forward",
           "to_map",
]
