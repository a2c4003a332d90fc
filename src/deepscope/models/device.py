"""Moving batches to the model's device, and the optional reduced-precision forward pass."""
from __future__ import annotations

import contextlib

import torch

from deepscope.errors import DeepscopeError

AUTOCAST = {"bf16": torch.bfloat16}  # --autocast names


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`batch` on `device`; for a GPU through pinned memory, so the copy overlaps the work queued before it."""
    device = torch.device(device)
    if device.type == "cuda" and batch.device.type == "cpu":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


def autocast(device: torch.device, precision: str | None):
    """A context running the forward pass at `precision` ("bf16") on `device`; None: full precision."""
    if precision is None:
        return contextlib.nullcontext()
    if precision not in AUTOCAST:
        raise DeepscopeError(f"unknown autocast precision {precision!r}; choose one of {', '.join(AUTOCAST)}")
    return torch.autocast(torch.device(device).type, dtype=AUTOCAST[precision])
