"""Assembling pictures: contact sheets and output folders."""
from deepscope.viz.sheet import contact_sheet
from deepscope.viz.output import prepare_output_dir

__all__ = ["contact_sheet", "prepare_output_dir"]
