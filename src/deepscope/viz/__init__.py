"""Assembling pictures: contact sheets and output folders."""
from deepscope.viz.output import prepare_output_dir
from deepscope.viz.sheet import contact_sheet

__all__ = ["contact_sheet", "prepare_output_dir"]
