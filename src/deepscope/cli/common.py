"""Arguments and helpers shared by sub-commands."""
from __future__ import annotations

import argparse

import torch

from deepscope.errors import DeepscopeError
from deepscope.models import DEFAULT_MODEL, VisionModel, load_model


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"model name: {DEFAULT_MODEL} (offline default), efficientnet_lite1, digits_vit and "
                             "digits_cnn (offline), googlenet, any torchvision/timm name (vit_tiny_patch16_224, swin_tiny_patch4_window7_224 ...), "
                             "or open_clip:ARCH[:TAG] with open_clip installed")
    parser.add_argument("--weights", help="local state-dict file, for machines that cannot download weights")
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                        help="build the architecture with random weights (offline work, tests)")
    parser.add_argument("--device", default=None, help="cpu (default), cuda, cuda:1, mps ...")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def model_from_args(args) -> VisionModel:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device and device.startswith("cuda") and not torch.cuda.is_available():
        raise DeepscopeError(f"--device {device} asked for, but no CUDA GPU is available; use --device cpu")
    return load_model(args.model, weights=args.weights, pretrained=getattr(args, "pretrained", True), device=device)


def parse_index_list(text: str, what: str = "channels") -> list[int]:
    """'0-15', '3', '0,4,8-11' -> sorted unique ints; a clear error for anything else."""
    values: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i:
                    raise ValueError
                values.extend(range(lo_i, hi_i + 1))
            else:
                values.append(int(part))
    except ValueError:
        raise DeepscopeError(f"cannot read --{what} {text!r}: use indices and ranges like 0-15 or 0,4,8-11") from None
    if not values:
        raise DeepscopeError(f"--{what} {text!r} names no index")
    negative = [v for v in values if v < 0]
    if negative:
        raise DeepscopeError(f"{what} must be non-negative, got {negative[0]}")
    return list(dict.fromkeys(values))
