"""Arguments and helpers shared by sub-commands; light at import (no torch), so `--help` is fast.

Every numeric option is checked while the command line is parsed, by the `type=` factories here
(`positive_int`, `pixels(...)`, `fraction` ...): a bad value stops with one line naming the option
and the range, before any model loads.
"""
from __future__ import annotations

import argparse
import math
import re
import shutil
import sys

from deepscope.cli.defaults import DEFAULT_MODEL, OFFLINE_MODELS
from deepscope.errors import DeepscopeError

MAX_SIDE = 4096  # the largest image side in pixels any option takes (renders, inputs, icons)
MAX_GRID = 200  # atlas cells a side (the picture's size, grid x icon size, is checked too)
DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, asking for the terminal's width once (argparse makes one per argument)."""

    columns: int | None = None

    def __init__(self, prog: str, **kwargs):
        if Formatter.columns is None:
            Formatter.columns = shutil.get_terminal_size().columns - 2
        super().__init__(prog, width=kwargs.pop("width", Formatter.columns), **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `deepscope CMD: error: argument --x: ... (see ... --help)`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _range_text(low, high, above, unit: str) -> str:
    if above is not None:
        return f"a number above {above}{unit}"
    if high is None:
        return f"at least {low}{unit}"
    return f"{low} to {high}{unit}" if low is not None else f"at most {high}{unit}"


def number(kind: type = int, low=None, high=None, *, above=None, unit: str = ""):
    """An argparse `type=`: a finite `kind` (int or float) in [low, high] (or above `above`)."""
    allowed = _range_text(low, high, above, unit)

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}: use {allowed}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number: use {allowed}")
        if (low is not None and value < low) or (above is not None and value <= above):
            raise argparse.ArgumentTypeError(f"{text}{unit} is too small: use {allowed}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text}{unit} is too large: use {allowed}")
        return value

    parse.__name__ = kind.__name__
    return parse


def pixels(low: int = 8, high: int = MAX_SIDE):
    """A size in pixels, `low` to `high`."""
    return number(int, low, high, unit=" px")


positive_int = number(int, 1)
count = number(int, 0)  # zero or more
positive_float = number(float, above=0)
nonnegative_float = number(float, 0)
fraction = number(float, 0, 1)
seed = number(int, 0, 2**32 - 1)
port = number(int, 0, 65535)
workers = number(int, 0, 64)


def device(text: str) -> str:
    """cpu, cuda, cuda:N, mps, xpu or xpu:N (whether it is there is checked when the model loads)."""
    if not DEVICE.match(text.strip()):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}: use cpu, cuda, cuda:N or mps")
    return text.strip()


def shard(text: str) -> str:
    """'I/N' with 0 <= I < N: part I of N."""
    part, _, parts = text.partition("/")
    if not (part.isdigit() and parts.isdigit() and 0 <= int(part) < int(parts)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a shard: use I/N with 0 <= I < N, e.g. 0/4")
    return text


def fractions(text: str) -> list[float]:
    """'0.2,0.4,0.7' -> fractions in (0, 1]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give fractions in (0, 1] like 0.2,0.4,0.7")
    return values


def add_workers_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=workers, default=None,
                        help="image-decoding threads (default: half the cores, 1-4)")


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """`--engine`, `--address`, `--ray-workers`: where the image pass runs (docs/scale.md)."""
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="run the image pass in this process (default) or as shard tasks on Ray workers "
                             '(pip install "deepscope[ray]")')
    parser.add_argument("--address", default=None,
                        help="with --engine ray: join this Ray cluster (e.g. HOST:6379; default: a local Ray "
                             "started for the run)")
    parser.add_argument("--ray-workers", type=number(int, 1, 4096), default=None,
                        help="with --engine ray: workers, each holding the model and running --threads torch "
                             "threads (1 if not given); default: the CPUs Ray has, divided by those threads")


def engine_from_args(args, model):
    """The engine the options ask for, as a context manager (`distributed.open_engine`): None in process."""
    from deepscope.distributed.engine import open_engine

    return open_engine(args.engine, model, address=args.address, workers=args.ray_workers, threads=args.threads)


def print_skipped(command: str, skipped: list[dict], total: int, listing: str) -> None:
    """One line on stderr for the unreadable files a run skipped (`skipped`: dicts with path and reason)."""
    if skipped:
        from deepscope.data.stream import skipped_summary

        summary = skipped_summary([(s["path"], s["reason"]) for s in skipped], total)
        print(f"deepscope {command}: {summary}; all listed in {listing}", file=sys.stderr)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"model name: {DEFAULT_MODEL} (offline default), {', '.join(OFFLINE_MODELS[1:])} "
                             "(offline), googlenet, any torchvision/timm name (vit_tiny_patch16_224, "
                             "swin_tiny_patch4_window7_224 ...), or open_clip:ARCH[:TAG] with open_clip installed")
    parser.add_argument("--weights", help="local state-dict file, for machines that cannot download weights")
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                        help="build the architecture with random weights (offline work, tests)")
    parser.add_argument("--device", type=device, default=None, help="cpu (default), cuda, cuda:1, mps ...")
    parser.add_argument("--threads", type=number(int, 1, 1024), default=None, help="CPU threads for torch")


def _check_device(device: str | None) -> None:
    import torch

    kind, _, index = (device or "cpu").partition(":")
    backend = {"cuda": torch.cuda, "mps": getattr(torch.backends, "mps", None), "xpu": getattr(torch, "xpu", None)}
    if kind == "cpu":
        return
    module = backend.get(kind)
    if module is None or not module.is_available():
        raise DeepscopeError(f"--device {device} asked for, but no {kind.upper()} device is available; use --device cpu")
    if index and hasattr(module, "device_count") and int(index) >= module.device_count():
        raise DeepscopeError(f"--device {device}: only {module.device_count()} {kind} device(s) here "
                             f"(0 to {module.device_count() - 1})")


def load_model(*args, **kwargs):
    """`deepscope.models.load_model`, imported on the first call (the CLI stays light until a command runs)."""
    from deepscope.models import load_model as load

    return load(*args, **kwargs)


def model_from_args(args):
    """The `VisionModel` the model options ask for (threads set, device checked)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    _check_device(args.device)
    return load_model(args.model, weights=args.weights, pretrained=getattr(args, "pretrained", True),
                      device=args.device)


def given(args, names) -> dict:
    """The options among `names` that the user gave (not None): what a request object gets, so that
    its own defaults decide the rest."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


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


def index_list(what: str = "channels"):
    """An argparse `type=` for `parse_index_list` (errors at parse time)."""
    def parse(text: str) -> list[int]:
        try:
            return parse_index_list(text, what)
        except DeepscopeError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = "indices"
    return parse
