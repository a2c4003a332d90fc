"""Faithfulness metrics (`deepscope evaluate`): each equals Quantus's on the same model, images,
maps and settings; they tell a good map from a random one; the command writes its table and resumes.

Quantus metric each is compared with: Sparseness = `quantus.Sparseness`; deletion =
`quantus.PixelFlipping` (baseline 0); insertion = `quantus.PixelFlipping` run on the blurred image
with a perturbation that copies the original's pixels back (Quantus has no insertion metric); ROAD =
`quantus.ROAD` (MoRF; LeRF with the order reversed) with noise 0 on one-channel images, where
Quantus's ROAD runs (on RGB it indexes channels as pixels and fails); Random Logit =
`quantus.RandomLogit` (flattened maps as Quantus does, and 2-D maps through Quantus's own `ssim`).
Quantus normalizes maps by their maximum; with `normalise_axes` per image, as deepscope does.
"""
import json

import numpy as np
import pytest
import torch

from deepscope.attribution import attribute
from deepscope.attribution.faithfulness import (
    blur,
    deletion,
    insertion,
    random_logit,
    random_logit_classes,
    road,
    sparseness,
)
from deepscope.attribution.faithfulness.curves import target_probability
from deepscope.attribution.faithfulness.imputation import linear_imputation, noisy_linear_imputation
from deepscope.models import load_model
from deepscope.models.digits import digits_images, write_digit_images

SIZE = 48  # H*W divisible by 3: Quantus's pixel flipping steps count colour values, 3 per pixel
STEPS = 12  # 192 pixels a step; Quantus needs H*W % (3 * 192) == 0
PER_IMAGE = [1, 2, 3, 4]
TOLERANCE = 1e-6


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread: these tiny forward passes only lose time to a second one on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """digits_cnn, four digits at 48 px, their top-1 classes and gradient maps (no two pixels tied)."""
    model = load_model("digits_cnn")
    images = digits_images(SIZE)[0][PER_IMAGE]
    targets = model(images).argmax(1)
    maps = attribute(model, images, "gradient", targets).map("abs")
    assert all(len(torch.unique(m)) == SIZE * SIZE for m in maps)  # an order without ties: comparable
    return model, images, targets, maps


def _quantus():
    quantus = pytest.importorskip("quantus")
    import warnings

    warnings.filterwarnings("ignore", module="quantus")
    return quantus


PER_MAP = {"normalise_func_kwargs": {"normalise_axes": [1, 2, 3]}, "disable_warnings": True}


def test_sparseness_equals_quantus(digits):
    quantus = _quantus()
    model, images, targets, maps = digits
    args = {"model": model, "x_batch": images.numpy(), "y_batch": targets.numpy(), "device": "cpu"}
    ours = sparseness(maps).numpy()
    theirs = quantus.Sparseness(**PER_MAP)(a_batch=maps[:, None].numpy(), **args)
    assert np.abs(ours - np.array(theirs)).max() < TOLERANCE
    batch_max = quantus.Sparseness(disable_warnings=True)(a_batch=maps[:, None].numpy(), **args)
    assert np.abs(ours - np.array(batch_max)).max() < 1e-4  # Quantus's default: one maximum for the batch
    assert sparseness(torch.eye(8)[None]).item() > sparseness(torch.ones(1, 8, 8)).item() + 0.8


def _insert_original(arr, indices, source, **_):
    rows = np.arange(len(arr))[:, None]
    out = arr.copy()
    out[rows, indices] = source[rows, indices]
    return out


def test_deletion_and_insertion_equal_quantus_pixel_flipping(digits):
    quantus = _quantus()
    model, images, targets, maps = digits
    ours = deletion(model, images, maps, targets, steps=STEPS)
    step = 3 * ours.pixels_per_step  # Quantus counts colour values
    args = {"model": model, "y_batch": targets.numpy(), "a_batch": maps[:, None].numpy(), "device": "cpu"}
    theirs = quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.0, **PER_MAP)(
        x_batch=images.numpy(), **args)
    assert ours.values.shape == (4, STEPS + 1)
    assert np.abs(ours.values[:, 1:].numpy() - np.array(theirs)).max() < TOLERANCE
    assert torch.allclose(ours.values[:, 0], target_probability(model, images, targets).double())
    full = np.concatenate([ours.values[:, :1].numpy(), np.array(theirs)], 1)
    assert np.allclose(ours.auc.numpy(), np.trapezoid(full, dx=1 / STEPS, axis=1))

    ours = insertion(model, images, maps, targets, steps=STEPS)
    source = images.numpy().reshape(len(images), -1)
    theirs = quantus.PixelFlipping(features_in_step=step, perturb_func=_insert_original,
                                   perturb_func_kwargs={"source": source}, **PER_MAP)(
        x_batch=blur(images).numpy(), **args)
    assert np.abs(ours.values[:, 1:].numpy() - np.array(theirs)).max() < TOLERANCE
    assert torch.allclose(ours.values[:, -1], target_probability(model, images, targets).double())


def test_random_logit_equals_quantus(digits):
    quantus = _quantus()
    model, images, targets, maps = digits
    asked = []

    def explain(model, inputs, targets, **_):
        asked.append(np.asarray(targets).tolist())
        return attribute(model, torch.as_tensor(inputs), "gradient", torch.as_tensor(targets)).map("abs")[:, None].numpy()

    def image_ssim(a, b, batched=True, **_):
        return [quantus.similarity_func.ssim(x.reshape(SIZE, SIZE), y.reshape(SIZE, SIZE)) for x, y in zip(a, b)]

    others = random_logit_classes(targets, 10, seed=7)
    assert (others != targets).all()
    other_maps = attribute(model, images, "gradient", others).map("abs")
    args = {"model": model, "x_batch": images.numpy(), "y_batch": targets.numpy(), "a_batch": maps[:, None].numpy(),
            "explain_func": explain, "device": "cpu"}
    flat = quantus.RandomLogit(num_classes=10, seed=7, **PER_MAP)(**args)
    assert asked[-1] == others.tolist()  # the same random classes
    assert np.abs(random_logit(maps, other_maps, flat=True).numpy() - np.array(flat)).max() < TOLERANCE
    square = quantus.RandomLogit(num_classes=10, seed=7, similarity_func=image_ssim, **PER_MAP)(**args)
    assert np.abs(random_logit(maps, other_maps).numpy() - np.array(square)).max() < TOLERANCE


class Grey(torch.nn.Module):
    """The model on one-channel images (Quantus's ROAD runs on one channel only)."""

    def __init__(self, model):
        super().__init__()
        self.model = model.eval()

    def forward(self, images):
        return self.model(images.expand(-1, 3, -1, -1))


def test_road_equals_quantus(digits):
    quantus = _quantus()
    model, images, targets, maps = digits
    percentages = (10, 30, 50, 70, 90)
    grey, one_channel = Grey(model).eval(), images[:, :1]
    for order, ranking in (("morf", maps), ("lerf", 1.0 / maps.double())):  # Quantus removes the highest first
        ours = road(grey, one_channel, maps, targets, percentages=percentages, order=order, noise=0.0)
        theirs = quantus.ROAD(percentages=list(percentages), noise=0.0, **PER_MAP)(
            model=grey, x_batch=one_channel.numpy(), y_batch=targets.numpy(), a_batch=ranking[:, None].numpy(),
            device="cpu")
        assert ours.accuracy.tolist() == pytest.approx(list(theirs.values()), abs=1e-12), order
    morf = road(grey, one_channel, maps, targets, percentages=percentages, noise=0.0)
    assert morf.accuracy.mean() < ours.accuracy.mean()  # removing the relevant pixels first hurts more

    from quantus.functions.perturb_func import noisy_linear_imputation as quantus_imputation

    rgb = images[0].double().numpy()
    order = np.argsort(-maps[0].numpy().ravel(), kind="stable")
    for fraction in (0.05, 0.5, 0.95):
        removed = order[: int(SIZE * SIZE * fraction)]
        mask = np.zeros(SIZE * SIZE, bool)
        mask[removed] = True
        theirs = quantus_imputation(rgb, removed, noise=0.0)
        assert np.abs(linear_imputation(rgb, mask.reshape(SIZE, SIZE)) - theirs).max() < 1e-9


def test_road_noise_only_on_removed_pixels():
    images = torch.rand(2, 3, 24, 24)
    removed = torch.rand(2, 24, 24) < 0.5
    plain = noisy_linear_imputation(images, removed, noise=0.0)
    noisy = noisy_linear_imputation(images, removed, noise=0.05, generator=torch.Generator().manual_seed(1))
    again = noisy_linear_imputation(images, removed, noise=0.05, generator=torch.Generator().manual_seed(1))
    difference = (noisy - plain).permute(1, 0, 2, 3)
    assert torch.equal(noisy, again)
    assert torch.equal(plain.permute(1, 0, 2, 3)[:, ~removed], images.permute(1, 0, 2, 3)[:, ~removed])
    assert difference[:, ~removed].abs().max() == 0
    assert 0.04 < difference[:, removed].std() < 0.06


def test_help_defaults_match_library():
    from deepscope.attribution.faithfulness.measure import METRICS, EvaluateConfig
    from deepscope.attribution.faithfulness.runner import DEFAULT_IMAGES
    from deepscope.cli.evaluate_cmd import HELP_DEFAULTS, METRIC_NAMES

    cfg = EvaluateConfig()
    assert METRIC_NAMES == METRICS
    assert HELP_DEFAULTS == {"methods": cfg.methods, "steps": cfg.steps, "percentages": cfg.percentages,
                             "noise": cfg.noise, "images": DEFAULT_IMAGES, "eval_batch": cfg.eval_batch}


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    images, labels = digits_images()
    folder = tmp_path_factory.mktemp("digits")
    write_digit_images(folder, images[:40:5], labels[:40:5])
    return folder


def test_evaluate_tells_a_good_map_from_a_random_one_and_resumes(digit_folder, tmp_path, monkeypatch):
    from deepscope.attribution.faithfulness import runner
    from deepscope.cli import main

    out = tmp_path / "eval"
    argv = ["evaluate", "--model", "digits_cnn", "--images", str(digit_folder), "-n", "4", "--size", "32",
            "--method", "gradient", "--metric", "deletion,insertion,road,sparseness,randomization",
            "--steps", "12", "--percentages", "30,60,90", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    report = json.loads((out / "evaluate.json").read_text())
    good, control = report["methods"]["gradient"], report["methods"]["random-map"]
    assert good["deletion"]["mean"] < control["deletion"]["mean"] - 0.1
    assert good["insertion"]["mean"] > control["insertion"]["mean"]
    assert good["road"]["morf"]["mean"] < control["road"]["morf"]["mean"]
    assert good["sparseness"]["mean"] > control["sparseness"]["mean"]
    assert len(good["deletion"]["per_image"]) == 4 and len(good["deletion"]["curve_mean"]) == 13
    assert report["randomization"]["methods"]["gradient"]["randomization"]["verdict"]
    table = (out / "evaluate.md").read_text()
    assert "| gradient |" in table and "| random-map |" in table and "deletion AUC" in table
    assert (out / "evaluate.csv").read_text().startswith("method,deletion AUC")
    assert all((out / name).stat().st_size > 0 for name in ("evaluate.png", "gradient.png", "random-map.png", "cascade.png"))

    def no_work(*_args, **_kwargs):
        raise AssertionError("a finished unit ran again")

    monkeypatch.setattr(runner, "measure", no_work)
    monkeypatch.setattr(runner, "_sanity", no_work)
    assert main(argv) == 0  # same settings: every unit read back
    assert json.loads((out / "evaluate.json").read_text())["methods"] == report["methods"]


def test_site_sanity_page_shows_faithfulness(digit_folder, tmp_path):
    from deepscope.app.config import SiteConfig
    from deepscope.app.saliency_stage import sanity_checks
    from deepscope.app.site_pages import sanity_body

    cfg = SiteConfig(saliency_methods=("gradient",), sanity_images=2, sanity_size=32)
    report = sanity_checks(load_model("digits_cnn"), digit_folder, tmp_path, cfg)
    saved = json.loads((tmp_path / "sanity" / "sanity.json").read_text())
    assert saved["faithfulness"]["rows"][0][0] == "gradient"
    assert (tmp_path / "sanity" / "faithfulness.png").is_file()
    page = sanity_body(report)
    assert "<h2>Faithfulness</h2>" in page and "sanity/faithfulness.png" in page and "deletion AUC" in page
