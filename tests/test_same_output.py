"""Same seed, same output: a small render and a small atlas give the recorded PNG bytes and cells.

The digests in tests/data/same_output.json were recorded before the redesign of the job, render and
layer-layout code (bench/same_output.py writes and compares them); floating-point results depend on
torch's version, the thread count and the CPU's vector unit, so other set-ups skip with the reason.
"""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
RECORDED = json.loads((REPO / "tests" / "data" / "same_output.json").read_text())


def _same_output():
    spec = importlib.util.spec_from_file_location("same_output", REPO / "bench" / "same_output.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_render_and_atlas_give_the_recorded_bytes(tmp_path):
    same_output = _same_output()
    threads = torch.get_num_threads()
    torch.set_num_threads(RECORDED["environment"]["threads"])  # other tests may have changed it
    try:
        here = same_output.environment()
        if here != RECORDED["environment"]:
            pytest.skip(f"digests were recorded with {RECORDED['environment']}, this is {here}")
        now = same_output.digests(tmp_path)
    finally:
        torch.set_num_threads(threads)
    assert now["render"]["results"] == RECORDED["render"]["results"]
    assert same_output.compare(RECORDED, now) == []
    assert len(now["render"]["png"]) == 9 and now["atlas"]["num_cells"] == RECORDED["atlas"]["num_cells"] > 0
