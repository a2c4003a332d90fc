"""Bad input, command by command: each case either stops with exit status 2 and one line naming the
problem (most of them while the command line is parsed, before any model loads), or gives a correct
result. Models: digits_cnn, googlenet/ResNet architectures without downloads, and the session's
embedded model (reused, not reloaded)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import bomb_png
from PIL import Image

import deepscope.models
from deepscope.cli import main
from deepscope.models.digits import digits_images, weights_path, write_digit_images

ERROR_LINE = re.compile(r"^deepscope [a-z-]+: error: .+$")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> SimpleNamespace:
    """Every input the cases need, written once."""
    import torchvision

    root = tmp_path_factory.mktemp("bad-input")
    images, labels = digits_images()
    imgs = root / "imgs"
    write_digit_images(imgs, images[:8], labels[:8])
    pair = root / "pair"
    pair.mkdir()
    Image.open(imgs / "0001_1.png").convert("RGB").save(pair / "x.jpg")
    shutil.copy(imgs / "0002_2.png", pair / "x.png")
    digits = torch.load(weights_path("digits_cnn"), weights_only=True)
    nan = {**digits, "fc.bias": torch.full_like(digits["fc.bias"], float("nan"))}
    negvar = {**digits, "layer1.1.running_var": -torch.ones_like(digits["layer1.1.running_var"])}  # NaN activations
    weights = {"r18": torchvision.models.resnet18().state_dict(), "nan": nan, "negvar": negvar,
               "aux": torchvision.models.googlenet(aux_logits=True, init_weights=False).state_dict()}
    for name, state in weights.items():
        torch.save(state, root / f"{name}.pt")
    (root / "trunc.pt").write_bytes((root / "nan.pt").read_bytes()[:900])
    (root / "empty.pt").write_bytes(b"")
    torch.save(torch.nn.Linear(2, 2), root / "module.pt")
    (root / "store_file").write_text("not a folder")
    stimuli = root / "stimuli"
    for name, source in (("cat/cat1-dog1.png", "0003_3.png"), ("cat/cat2-bear1.png", "0004_4.png"),
                         ("dog/dog1-cat1.png", "0005_5.png"), ("dog/dog2-cat2.png", None)):
        (stimuli / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(imgs / source, stimuli / name) if source else (stimuli / name).write_bytes(b"corrupt")
    return SimpleNamespace(root=root, imgs=imgs, img=imgs / "0000_0.png", pair=pair, stimuli=stimuli,
                           bomb=bomb_png(root / "bomb.png", 12000), **{n: root / f"{n}.pt" for n in
                                                                      (*weights, "trunc", "empty", "module")})


@pytest.fixture(scope="module")
def shared_models(model):
    """load_model hands back one instance per offline model without weights file: the session's
    embedded model, one digits_cnn."""
    real, cache = deepscope.models.load_model, {}

    def load(name="efficientnet_lite0", *, weights=None, pretrained=True, device=None):
        if weights is not None or not pretrained or device not in (None, "cpu"):
            return real(name, weights=weights, pretrained=pretrained, device=device)
        if name == "efficientnet_lite0":
            return model
        return cache.setdefault(name, real(name))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deepscope.models, "load_model", load)
        yield


def _saliency_outputs_are_unique(out: Path, err: str) -> None:
    summary = json.loads((out / "saliency.json").read_text())
    pngs = [e["outputs"]["gradient"]["png"] for e in summary["images"]]
    assert len(pngs) == 2 and len(set(pngs)) == 2 and all((out / p).is_file() for p in pngs), pngs
    assert {Path(e["file"]).name for e in summary["images"]} == {"x.jpg", "x.png"}


def _corrupt_stimulus_is_skipped_and_listed(out: Path, err: str) -> None:
    report = json.loads((out / "report.json").read_text())
    assert [Path(s["path"]).name for s in report["skipped"]] == ["dog2-cat2.png"]
    assert report["cue_conflict"]["images"] == 3 and "skipped 1 of 4" in err


def _aux_classifiers_are_named(out: Path, err: str) -> None:
    assert "ignored keys that googlenet does not use" in err and "auxiliary classifier" in err


D = ["--model", "digits_cnn"]
# (case id, argv with {placeholders} for the `files` fixture and {out}, expected: a message part or a check)
CASES = [
    # silent wrong output before: weights that do not fit, NaN, clashing outputs, bombs, sizes
    ("weights-googlenet-resnet18", ["occlusion", "--model", "googlenet", "--weights", "{r18}", "--image", "{img}"],
     "does not fit googlenet: expected 287 tensors"),
    ("weights-resnet34-resnet18", ["layers", "--model", "resnet34", "--weights", "{r18}", "--size", "64"],
     "expected a ResNet-34 (blocks 3/4/6/3), found a ResNet-18 (blocks 2/2/2/2)"),
    ("weights-default-resnet18", ["layers", "--weights", "{r18}"], "does not fit efficientnet_lite0"),
    ("weights-googlenet-aux-heads", ["layers", "--model", "googlenet", "--weights", "{aux}", "--size", "32"],
     _aux_classifiers_are_named),
    ("weights-nan", ["layers", *D, "--weights", "{nan}"], "holds NaN or infinite values in 1 tensor(s) (first: fc.bias)"),
    ("activations-nan-examples", ["examples", *D, "--weights", "{negvar}", "--layer", "layer2", "--channels", "0",
                                  "--images", "{imgs}", "--deconv", "0"], "layer2 activations hold NaN"),
    ("activations-nan-occlusion", ["occlusion", *D, "--weights", "{negvar}", "--image", "{img}", "--size", "8"],
     "logits of digits_cnn hold NaN"),
    ("activations-nan-saliency", ["saliency", *D, "--weights", "{negvar}", "--images", "{imgs}"],
     "logits of digits_cnn hold NaN"),
    ("activations-nan-map", ["map", *D, "--weights", "{negvar}", "--images", "{imgs}"], "codes of digits_cnn hold NaN"),
    ("saliency-x.jpg-and-x.png", ["saliency", *D, "--images", "{pair}"], _saliency_outputs_are_unique),
    ("decompression-bomb", ["saliency", *D, "--images", "{bomb}"], "12000x12000 = 144 Mpx"),
    ("atlas-grid-0", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--grid", "0"], "argument --grid: 0 is too small"),
    ("atlas-icon-size-0", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--icon-size", "0"],
     "argument --icon-size: 0 px is too small"),
    ("saliency-size-0", ["saliency", "--images", "{imgs}", "--size", "0"], "argument --size: 0 px is too small"),
    ("map-size-0", ["map", "--images", "{imgs}", "--size", "0"], "argument --size: 0 px is too small"),
    ("layers-size-0", ["layers", "--size", "0"], "argument --size: 0 px is too small"),
    ("occlusion-input-size-4", ["occlusion", "--image", "{img}", "--input-size", "4"], "--input-size: 4 px is too small"),
    ("map-1000x1000", ["map", *D, "--images", "{imgs}", "--rows", "1000", "--cols", "1000"],
     "1000x1000 grid has 1000000 cells for 8 images"),
    ("map-rows-0", ["map", "--images", "{imgs}", "--rows", "0"], "argument --rows: 0 is too small"),
    # tracebacks and crashes before
    ("map-size-8-tsne", ["map", "--images", "{imgs}", "--size", "8"], "argument --size: 8 px is too small"),
    ("map-size-8-umap", ["map", "--images", "{imgs}", "--size", "8", "--method", "umap"], "8 px is too small"),
    ("render-lr-negative", ["render", "--lr", "-1"], "argument --lr: -1 is too small: use a number above 0"),
    ("render-lr-nan", ["render", "--lr", "nan"], "argument --lr: 'nan' is not a finite number"),
    ("render-size-100000", ["render", "--size", "100000"], "argument --size: 100000 px is too large: use 8 to 4096 px"),
    ("render-steps-text", ["render", "--steps", "many"], "argument --steps: 'many' is not a whole number"),
    ("saliency-noise-negative", ["saliency", "--images", "{imgs}", "--noise", "-1"], "argument --noise: -1 is too small"),
    ("threads-negative", ["render", "--threads", "-1"], "argument --threads: -1 is too small"),
    ("device-tpu", ["layers", "--device", "tpu"], "unknown device 'tpu': use cpu, cuda, cuda:N or mps"),
    ("device-missing-gpu", ["layers", "--device", "cuda:99"], "--device cuda:99"),
    ("atlas-store-is-a-file", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--store", "{root}/store_file"],
     "store_file' is a file"),
    ("atlas-store-under-a-file", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--store",
                                  "{root}/store_file/sub"], "lies under the file"),
    ("atlas-grid-100000", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--grid", "100000"],
     "argument --grid: 100000 is too large: use 1 to 200"),
    ("atlas-canvas-too-large", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--grid", "200", "--icon-size",
                                "100"], "20000 px wide, over the 16384 px limit"),
    ("atlas-shard-3-of-2", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--shard", "3/2"], "not a shard"),
    ("weights-truncated", ["layers", *D, "--weights", "{trunc}"], "truncated or corrupt"),
    ("weights-empty", ["layers", *D, "--weights", "{empty}"], "is empty (0 bytes)"),
    ("weights-pickled-module", ["layers", *D, "--weights", "{module}"], "holds pickled Python objects"),
    ("weights-missing", ["layers", *D, "--weights", "{root}/missing.pt"], "does not exist"),
    ("shape-bias-corrupt-stimulus", ["shape-bias", "--stimuli", "{stimuli}"], _corrupt_stimulus_is_skipped_and_listed),
    ("class-shark-ambiguous", ["render", "--class", "shark", "--steps", "1", "--size", "16"],
     "class 'shark' is ambiguous: 2 classes match (great white shark (2), tiger shark (3))"),
    ("saliency-limit-negative", ["saliency", "--images", "{imgs}", "--limit", "-2"], "argument --limit: -2 is too small"),
    ("atlas-limit-negative", ["atlas", "--layer", "blocks.4", "--images", "{imgs}", "--limit", "-2"],
     "argument --limit: -2 is too small"),
    # the same rules elsewhere
    ("examples-top-0", ["examples", "--layer", "blocks.4", "--images", "{imgs}", "--top", "0"], "--top: 0 is too small"),
    ("examples-workers-negative", ["examples", "--layer", "blocks.4", "--images", "{imgs}", "--workers", "-1"],
     "--workers: -1 is too small"),
    ("occlusion-fill-2", ["occlusion", "--image", "{img}", "--fill", "2"], "argument --fill: 2 is too large: use 0 to 1"),
    ("sanity-images-0", ["sanity", "--images", "{imgs}", "-n", "0"], "argument -n/--num-images: 0 is too small"),
    ("site-fv-size-4", ["site", "--fv-size", "4"], "argument --fv-size: 4 px is too small"),
    ("site-atlas-grid-100000", ["site", "--atlas-grid", "100000"], "--atlas-grid: 100000 is too large: use 1 to 200"),
    ("patch-ratios", ["patch", "--images", "{imgs}", "--ratios", "0.2,2"], "give fractions in (0, 1]"),
    ("render-channels-text", ["render", "--channels", "x-y"], "cannot read --channels 'x-y'"),
    ("render-seed-negative", ["render", "--seed", "-3"], "argument --seed: -3 is too small"),
]


@pytest.mark.parametrize("case, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, argv, expected, files, shared_models, tmp_path, capsys):
    out = tmp_path / "out"
    args = [a.format(out=out, **vars(files)) for a in argv]
    args += [] if args[0] == "layers" else ["--out", str(out)]
    args += [] if args[0] in ("layers", "occlusion") else ["--no-progress"]
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if callable(expected):
        assert code == 0, err
        expected(out, err)
        return
    lines = err.strip().splitlines()
    assert code == 2 and lines and ERROR_LINE.match(lines[-1]), err
    assert expected in lines[-1], lines[-1]
    assert "weights_only" not in err
    for written in out.rglob("*.json") if out.exists() else ():
        _strict_json(written)


def _strict_json(path: Path) -> None:
    """Valid JSON: NaN and infinity, which Python's json module reads and writes, fail."""
    def refuse(constant):
        pytest.fail(f"{path} holds {constant}")

    json.loads(path.read_text(), parse_constant=refuse)



def test_identical_codes_are_refused_before_the_layout():
    """Codes that are all the same (a tiny input size) crashed t-SNE and UMAP: now a clear error."""
    import numpy as np

    from deepscope.errors import DeepscopeError
    from deepscope.examples.grid_layout import embed_2d

    codes = np.zeros((24, 16), dtype=np.float32)
    codes[:2] = 1.0
    for method in ("tsne", "umap"):
        with pytest.raises(DeepscopeError, match="22 of the 24 images have the same code"):
            embed_2d(codes, method)


def test_a_failed_atlas_save_leaves_the_previous_atlas_whole(tmp_path, monkeypatch):
    """Icons of a new run never land beside the atlas.json of an old one: a save that fails changes
    nothing, a save that succeeds replaces icons, picture and JSON together."""
    import numpy as np

    from deepscope.atlas.build import Atlas, build_atlas

    acts = np.random.default_rng(0).normal(size=(80, 6)).astype(np.float32)
    out = tmp_path / "atlas"

    def atlas(grid: int) -> Atlas:
        made = build_atlas(None, acts, "blocks.4", grid=grid, threshold=1, layout="pca", icons=None, progress=False)
        made.icons, made.scores = torch.rand(len(made.grid), 3, 8, 8), np.zeros(len(made.grid))
        return made

    def listing() -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    atlas(4).save(out)
    before = listing()
    assert json.loads(before["atlas.json"])["grid"] == 4 and sum(k.startswith("icons/") for k in before) > 4
    failing = atlas(2)
    monkeypatch.setattr(Atlas, "picture", lambda self: (_ for _ in ()).throw(MemoryError("canvas")))
    with pytest.raises(MemoryError):
        failing.save(out)
    assert listing() == before and not list(out.glob(".atlas-*"))
    monkeypatch.undo()
    failing.save(out)
    after = listing()
    icons = {k for k in after if k.startswith("icons/")}
    assert json.loads(after["atlas.json"])["grid"] == 2 and icons == {f"icons/cell_{x:03d}_{y:03d}.png" for x, y in
                                                                       failing.grid.cells.tolist()}


def test_every_torch_load_reads_tensors_only():
    """No `torch.load` in the package may unpickle code (patch state, checkpoints, weights files)."""
    src = Path(deepscope.models.__file__).parents[1]
    calls = [(p.name, line.strip()) for p in src.rglob("*.py") for line in p.read_text().splitlines()
             if "torch.load(" in line]
    assert calls and all("weights_only=True" in line for _, line in calls), calls
