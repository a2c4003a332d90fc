"""`VisionModel`: a network plus its input normalization, addressed by layer names."""
from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from torch import nn

from deepscope.errors import DeepscopeError, unknown_name_error
from deepscope.models.classes import lookup_class

LOGITS = "logits"
INPUT = "input"  # the images the model is given, in [0, 1] (for image penalties)


def all_finite(values: torch.Tensor) -> bool:
    """No NaN or infinity in `values` (from their min and max: one pass, no mask; NaN propagates)."""
    if not values.is_floating_point() or not values.numel():
        return True
    return bool(torch.isfinite(torch.stack(torch.aminmax(values.detach()))).all())


def require_finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """`values`, or a clear error when any of them is NaN or infinite (broken weights, an overflow)."""
    if not all_finite(values):
        raise DeepscopeError(f"{what} hold NaN or infinite values: the model's weights are broken (NaN/Inf) or its "
                             "activations overflow; check the weights (--weights)")
    return values


class VisionModel(nn.Module):
    """Wraps `net` so that it takes RGB images in [0, 1]; layers are named as in `net`.

    `aliases` maps extra names (e.g. the paper's `mixed4c`) to module names of `net`.
    `classes` holds the output class names when the model is a classifier.
    `fixed_size`: the only input size the network takes, for networks fixed to one (see `accepted_size`).
    """

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        *,
        name: str = "custom",
        input_size: int = 224,
        classes: Sequence[str] | None = None,
        aliases: dict[str, str] | None = None,
        fixed_size: int | None = None,
    ):
        super().__init__()
        self.net = net.eval()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.name = name
        self.input_size = input_size
        self.classes = list(classes) if classes is not None else None
        self.aliases = dict(aliases or {})
        self.fixed_size = fixed_size
        self.weights_source: str | None = None  # None: the name's usual weights; else a file or "random"
        self._size_notes: set[int] = set()

    @property
    def key(self) -> str:
        """The name, plus the weights when they are not the name's usual ones (for job settings)."""
        return self.name if self.weights_source is None else f"{self.name} [{self.weights_source}]"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for images in [0, 1], shape (B, 3, H, W)."""
        if self.fixed_size is not None and tuple(images.shape[-2:]) != (self.fixed_size, self.fixed_size):
            raise DeepscopeError(f"{self.name} takes {self.fixed_size}x{self.fixed_size} inputs only, not "
                                 f"{images.shape[-2]}x{images.shape[-1]}: use --size {self.fixed_size} or leave "
                                 "--size out")
        return self.net((images - self.mean) / self.std)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def layer_names(self) -> list[str]:
        """Every addressable module name of the network, in definition order."""
        return [n for n, _ in self.net.named_modules() if n]

    def resolve(self, name: str) -> str:
        """The module name in `net` for a layer name or alias; `logits` stays `logits`."""
        if name in (LOGITS, INPUT):
            return name
        name = self.aliases.get(name, name)
        modules = dict(self.net.named_modules())
        if name not in modules or not name:
            raise unknown_name_error(
                f"layer for model {self.name!r}:",
                name,
                list(self.aliases) + self.layer_names() + [LOGITS, INPUT],
                f"run `deepscope layers --model {self.name}` to list them",
            )
        return name

    def module(self, name: str) -> nn.Module:
        """The `nn.Module` a layer name (or alias) refers to."""
        return dict(self.net.named_modules())[self.resolve(name)]

    def accepted_size(self, size: int) -> int:
        """`size`, or the model's fixed size (with a one-line note on stderr, once) when it takes no other."""
        if self.fixed_size is None or size == self.fixed_size:
            return size
        if size not in self._size_notes:
            self._size_notes.add(size)
            print(f"note: {self.name} takes {self.fixed_size}x{self.fixed_size} inputs only; using "
                  f"{self.fixed_size} px instead of {size}", file=sys.stderr)
        return self.fixed_size

    def class_index(self, label: str | int) -> int:
        """Index of a class given its index, its name, or a unique part of its name."""
        return lookup_class(self.classes, label)
