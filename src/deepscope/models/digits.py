"""Two small classifiers of scikit-learn's bundled digits, trained offline by `scripts/train_digits.py`.

`digits_vit` is a timm `VisionTransformer` (32 px, 8 px patches: a class token + 4x4 patch tokens,
64 channels, 4 blocks; dynamic image size), read by deepscope through the same code as any timm ViT;
`digits_cnn` is a small torchvision-style conv net (three stages of two 3x3 conv-BN-ReLU). Both take
the 8x8 digits upsampled to 24x24, centred on a black 32x32 canvas, as greyscale RGB in [0, 1].
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deepscope.errors import DeepscopeError

DIGITS_MODELS = ("digits_vit", "digits_cnn")
CLASSES = [str(d) for d in range(10)]
SIZE = 32
# Per-channel mean and std of the training images (every channel is the same grey).
MEAN, STD = (0.172,) * 3, (0.291,) * 3
DATA = Path(__file__).parent / "data"
SPLIT_SEED = 0
TEST_FRACTION = 0.25


def build_vit() -> nn.Module:
    """The digits ViT's architecture (random weights)."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=SIZE, patch_size=8, num_classes=10, embed_dim=64, depth=4, num_heads=4,
                             mlp_ratio=4.0, dynamic_img_size=True, dynamic_img_pad=True)


def _stage(cin: int, cout: int) -> nn.Sequential:
    layers = []
    for c in (cin, cout):
        layers += [nn.Conv2d(c, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DigitsCNN(nn.Module):
    """layer1 (32 px) -> pool -> layer2 (16 px) -> pool -> layer3 (8 px) -> global average -> fc."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.layer1 = _stage(3, width)
        self.layer2 = _stage(width, 2 * width)
        self.layer3 = _stage(2 * width, 4 * width)
        self.pool = nn.MaxPool2d(2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.pool(self.layer2(self.pool(self.layer1(x)))))
        return self.fc(self.avgpool(x).flatten(1))


BUILDERS = {"digits_vit": build_vit, "digits_cnn": DigitsCNN}


def digits_images(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits as (N, 3, size, size) greyscale RGB in [0, 1] (ink bright, 3/4 of the canvas)
    and their labels (N,)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    small = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    inner = size * 3 // 4
    digits = F.interpolate(small, size=(inner, inner), mode="bilinear", align_corners=False).clamp(0, 1)
    border = (size - inner) // 2
    canvas = F.pad(digits, (border, size - inner - border) * 2)
    return canvas.expand(-1, 3, -1, -1).contiguous(), torch.tensor(data.target, dtype=torch.long)


def write_digit_images(folder: str | os.PathLike, images: torch.Tensor, labels: torch.Tensor) -> list[Path]:
    """The digits as PNG files `NNNN_<label>.png` in `folder` (for the folder-based commands)."""
    from deepscope.data.images import save_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (image, label) in enumerate(zip(images, labels)):
        files.append(folder / f"{i:04d}_{int(label)}.png")
        save_image(image, files[-1])
    return files


def train_test_indices(count: int = 1797) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed split (seed `SPLIT_SEED`): indices of the training and the held-out digits."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SPLIT_SEED))
    test = round(count * TEST_FRACTION)
    return order[test:].sort().values, order[:test].sort().values


def weights_path(name: str) -> Path:
    return DATA / f"{name}.pt"


def load_digits_model(name: str, *, weights: str | os.PathLike | None = None, pretrained: bool = True):
    """The `VisionModel` of `digits_vit` or `digits_cnn`: the shipped weights, those of the file
    `weights`, or random ones (`pretrained=False`, the same on every call)."""
    from deepscope.models.vision_model import VisionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = BUILDERS[name]()
    path = weights if weights is not None else weights_path(name) if pretrained else None
    if path is not None:
        from deepscope.models.weights import load_weights, read_state_dict

        if not os.path.isfile(path):
            fix = "check the path" if weights is not None else "rebuild it with `python scripts/train_digits.py`"
            raise DeepscopeError(f"weights file {str(path)!r} of {name!r} does not exist: {fix}")
        load_weights(net, read_state_dict(path), name, f"weights file {str(path)!r}")
    model = VisionModel(net, MEAN, STD, name=name, input_size=SIZE, classes=CLASSES)
    if weights is not None or not pretrained:
        model.weights_source = str(weights) if weights is not None else "random"
    return model.eval()
