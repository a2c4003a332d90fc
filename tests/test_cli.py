"""The command line: outputs as documented, user errors without tracebacks, same seed same images."""
import json
import subprocess
import sys

import pytest
from helpers import kill_when

from deepscope.cli import main


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_render_writes_images_sheet_and_results(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["render", "--layer", "blocks.3", "--channels", "0-1", "--size", "32", "--steps", "3",
            "--seed", "0", "--out", str(out), "--no-progress"]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert [r["objective"] for r in results] == ["channel(blocks.3:0)", "channel(blocks.3:1)"]
    assert all(isinstance(r["score"], float) and (out / r["image"]).is_file() for r in results)
    assert (out / "contact_sheet.png").is_file()
    first = [(out / r["image"]).read_bytes() for r in results]
    # same seed, same images (a fresh run in another folder)
    out2 = tmp_path / "r2"
    assert _run(argv[:-3] + ["--out", str(out2), "--no-progress"], capsys)[0] == 0
    assert [(out2 / r["image"]).read_bytes() for r in results] == first


def test_rerun_skips_finished_batches(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["render", "--layer", "blocks.2", "--channels", "0-3", "--batch", "2", "--size", "16", "--steps", "2",
            "--out", str(out), "--no-progress"]
    assert _run(argv, capsys)[0] == 0
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("channel_*.png")}
    assert _run(argv, capsys)[0] == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("channel_*.png")} == stamp
    assert len(json.loads((out / "results.json").read_text())) == 4


def test_killed_render_resumes_to_the_uninterrupted_images(tmp_path):
    """SIGKILL after the first batch, rerun: the same PNG bytes and results.json as one whole run."""
    cmd = [sys.executable, "-m", "deepscope", "render", "--layer", "blocks.3", "--channels", "0-5", "--batch", "2",
           "--size", "32", "--steps", "24", "--threads", "1", "--no-progress"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    state = killed / ".render-state.json"

    def first_batch_done():
        return bool((json.loads(state.read_text()) if state.is_file() else {}).get("units"))

    code = kill_when(cmd + ["--out", str(killed)], first_batch_done, timeout=120)
    finished = list(json.loads(state.read_text())["units"])
    assert code == -9 and 1 <= len(finished) < 3, (code, finished)
    for out in (killed, whole):
        subprocess.run(cmd + ["--out", str(out)], check=True, capture_output=True)
    assert json.loads((killed / "results.json").read_text()) == json.loads((whole / "results.json").read_text())
    pngs = sorted(p.name for p in whole.glob("*.png"))
    assert len(pngs) == 6 + 4 and [(killed / n).read_bytes() for n in pngs] == [(whole / n).read_bytes() for n in pngs]


def test_class_and_neuron_objectives(tmp_path, capsys):
    out = tmp_path / "c"
    code, _, err = _run(["render", "--class", "goldfish", "--class", "3", "--size", "32", "--steps", "2",
                         "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    names = [r["objective"] for r in json.loads((out / "results.json").read_text())]
    assert names == ["class(goldfish)", "class(tiger shark)"]


@pytest.mark.parametrize("args, message", [
    (["render", "--model", "efficientnet_lite9"], "unknown model 'efficientnet_lite9'; close matches"),
    (["render", "--layer", "blocks.44"], "close matches: blocks.4"),
    (["render", "--layer", "blocks.4", "--channels", "112"], "out of range: layer 'blocks.4' has 112 channels"),
    (["render", "--layer", "blocks.4", "--channels", "x-y"], "cannot read --channels"),
    (["render", "--size", "4"], "too small"),
    (["render", "--steps", "0"], "argument --steps: 0 is too small"),
    (["render", "--class", "no such class"], "unknown class"),
])
def test_user_errors_are_one_clear_line(tmp_path, capsys, args, message):
    code, _, err = _run(args + ["--out", str(tmp_path / "o"), "--no-progress"], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "deepscope.cli", "render", "--out", str(blocker / "sub")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "cannot write to output folder" in proc.stderr and "Traceback" not in proc.stderr


def test_layers_lists_shapes(capsys):
    code, out, _ = _run(["layers"], capsys)
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("blocks.4 "))
    assert "112x14x14" in line


def test_random_weights_do_not_resume_a_pretrained_render(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["render", "--layer", "blocks.2", "--channels", "0", "--size", "16", "--steps", "2", "--out", str(out),
            "--no-progress"]
    assert _run(argv, capsys)[0] == 0
    pretrained = (out / "channel_blocks.2_0.png").read_bytes()
    code, _, err = _run(argv + ["--no-pretrained"], capsys)
    assert code == 0 and "other settings" in err and "random" in err
    assert (out / "channel_blocks.2_0.png").read_bytes() != pretrained


def test_help_imports_no_torch():
    """`deepscope --help` and every `deepscope CMD --help` build their parsers from light modules."""
    probe = ("import sys; from deepscope.cli import build_parser; parser = build_parser(); "
             "[p.format_help() for p in parser._subparsers._group_actions[0].choices.values()]; "
             "print(sorted(m for m in ('torch', 'torchvision', 'timm', 'captum', 'numpy', 'PIL', 'matplotlib') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
    for argv in (["--help"], ["render", "--help"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "deepscope", *argv], capture_output=True,
                              text=True, timeout=60, check=False)
        imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
        assert proc.returncode == 0 and "usage: deepscope" in proc.stdout
        assert "deepscope.cli" in imported and not [m for m in imported if m.split(".")[0] == "torch"]


def test_help_defaults_are_the_librarys():
    """The values `--help` shows without importing torch (cli/defaults.py) are the library's own."""
    import dataclasses

    from deepscope.app.config import DEFAULT_SALIENCY_METHODS
    from deepscope.atlas.request import SIZES, AtlasRequest
    from deepscope.attribution import method_names
    from deepscope.attribution.methods import DEFAULT_BATCH, get_method
    from deepscope.attribution.report import DEFAULT_METHOD, DEFAULT_SANITY_IMAGES, MIN_SIZE
    from deepscope.attribution.sanity import SanityConfig
    from deepscope.cli import COMMANDS, defaults
    from deepscope.examples.grid_layout import METHODS
    from deepscope.models import DEFAULT_MODEL
    from deepscope.models.digits import DIGITS_MODELS
    from deepscope.models.efficientnet_lite import OFFLINE_MODELS
    from deepscope.probes.patch_request import PatchRequest
    from deepscope.render.param import PARAMS
    from deepscope.render.request import RenderRequest
    from deepscope.render.transforms import TRANSFORM_SETS

    def fields(cls, names):
        found = {f.name: f.default for f in dataclasses.fields(cls)}
        return {n: found[n] for n in names}

    assert (defaults.DEFAULT_MODEL, defaults.OFFLINE_MODELS) == (DEFAULT_MODEL, OFFLINE_MODELS + DIGITS_MODELS)
    assert defaults.PARAMS == tuple(sorted(PARAMS)) and defaults.TRANSFORM_SETS == tuple(sorted(TRANSFORM_SETS))
    assert defaults.RENDER == fields(RenderRequest, defaults.RENDER)
    assert defaults.ATLAS == fields(AtlasRequest, defaults.ATLAS) and defaults.ATLAS_SIZES == SIZES
    assert defaults.PATCH == fields(PatchRequest, defaults.PATCH) and defaults.MAP_METHODS == METHODS
    assert list(defaults.SALIENCY_METHODS) == method_names(specific=True)
    assert (defaults.SALIENCY_DEFAULT, defaults.SALIENCY_BATCH, defaults.SALIENCY_MIN_SIZE) == (
        DEFAULT_METHOD, DEFAULT_BATCH, MIN_SIZE)
    assert defaults.SMOOTHGRAD.items() <= get_method("smoothgrad").defaults.items()
    assert defaults.INTEGRATED_GRADIENTS.items() <= get_method("integrated-gradients").defaults.items()
    sanity = SanityConfig()
    assert defaults.SANITY == {"methods": sanity.methods, "images": DEFAULT_SANITY_IMAGES, "seed": sanity.seed,
                               "randomization_threshold": sanity.randomization_threshold}
    assert defaults.SITE_SALIENCY_METHODS == DEFAULT_SALIENCY_METHODS
    assert all(isinstance(name, str) for name in COMMANDS)  # module names: one line adds a command
