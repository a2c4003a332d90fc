"""Shared fixtures: threads pinned, the embedded model loaded once, the shared data located."""
import os
from pathlib import Path

import pytest

from deepscope import memory

memory.tune()  # as the command line does, before torch is imported

import torch

torch.set_num_threads(int(os.environ.get("DEEPSCOPE_TEST_THREADS", "1")))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEEPSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def model():
    """The embedded default (EfficientNet-Lite0 with real ImageNet weights), loaded once."""
    from deepscope.models import load_model

    return load_model("efficientnet_lite0")


def _shared_folder(name: str) -> Path:
    """A folder of `../shared/data`, or a skip saying where it was looked for."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared data {name!r} not found at {path} (set DEEPSCOPE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def imagenet_samples() -> Path:
    """`../shared/data/imagenet-samples` (1000 images), or a skip saying why."""
    return _shared_folder("imagenet-samples")


@pytest.fixture(scope="session")
def cue_conflict() -> Path:
    """`../shared/data/cue-conflict`, or a skip saying why."""
    return _shared_folder("cue-conflict")
