"""Weights files: read safely (tensors only, never pickled code), checked for NaN/Inf, and loaded
strictly: every tensor of the network must come from the file with its shape. Only keys known to be
harmless may differ (BatchNorm's `num_batches_tracked`, the auxiliary classifiers of GoogLeNet and
Inception v3, an averaged model's counter); those are named in a note. A file that does not fit
gets one line naming the expected and the found architecture."""
from __future__ import annotations

import os
import re
import sys
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import all_finite

HARMLESS_SUFFIXES = ("num_batches_tracked",)  # BatchNorm's step counter, unused in eval mode
HARMLESS_UNUSED = {"aux1.": "GoogLeNet's auxiliary classifier", "aux2.": "GoogLeNet's auxiliary classifier",
                   "AuxLogits.": "Inception v3's auxiliary classifier", "n_averaged": "an averaged model's counter"}
WRAPPERS = ("state_dict", "model_state_dict", "model")  # checkpoints that hold the state dict under a key
_RESNETS = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34, ((3, 4, 6, 3), True): 50,
            ((3, 4, 23, 3), True): 101, ((3, 8, 36, 3), True): 152}


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a state-dict file (torch.save or .safetensors), or a clear error."""
    path = Path(path)
    if not path.is_file():
        raise DeepscopeError(f"weights file {str(path)!r} does not exist" if not path.exists()
                             else f"weights file {str(path)!r} is not a file")
    if path.stat().st_size == 0:
        raise DeepscopeError(f"weights file {str(path)!r} is empty (0 bytes): the download or copy did not finish")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure becomes one line without torch's advice
        raise DeepscopeError(f"could not read weights file {str(path)!r}: {_read_failure(err)}") from None
    return _unwrap(state, path)


def _read_failure(err: Exception) -> str:
    """Why a file could not be read, in deepscope's words (torch's own message suggests loading
    untrusted pickles, which deepscope never does)."""
    text = str(err)
    if "Weights only load failed" in text or type(err).__name__ == "UnpicklingError":
        return ("it holds pickled Python objects, not only tensors (a whole saved model?); deepscope reads "
                "state dicts of tensors: save one with torch.save(model.state_dict(), FILE)")
    if "zip archive" in text or isinstance(err, EOFError):
        return "the file is truncated or corrupt (not a complete torch.save file): copy or download it again"
    return f"not a torch or safetensors weights file ({type(err).__name__}: {text.splitlines()[0][:120] if text else ''})"


def _unwrap(state, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(state, dict):
        for key in WRAPPERS:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DeepscopeError(f"weights file {str(path)!r} holds no state dict (a mapping of names to tensors)")
    if all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """A clear error when any tensor of `state` holds NaN or infinity."""
    bad = [k for k, v in state.items() if not all_finite(v)]
    if bad:
        raise DeepscopeError(f"{source} holds NaN or infinite values in {len(bad)} tensor(s) (first: {bad[0]}); "
                             "every result would be NaN: use a file with finite weights")


def _harmless(key: str) -> str | None:
    """Why a key may be missing from the file or the network, or None when it may not."""
    unused = next((why for prefix, why in HARMLESS_UNUSED.items() if key.startswith(prefix)), None)
    return unused or ("BatchNorm step counters" if key.endswith(HARMLESS_SUFFIXES) else None)


def describe(state: dict) -> str:
    """'a ResNet-18 (blocks 2/2/2/2)' or '62 tensors, conv1.weight ... fc.weight 1000x512' (the head last)."""
    keys = [k for k in state if not k.endswith(HARMLESS_SUFFIXES)]
    blocks = Counter()
    for key in keys:
        match = re.match(r"^layer([1-4])\.(\d+)\.", key)
        if match:
            blocks[int(match.group(1))] = max(blocks[int(match.group(1))], int(match.group(2)) + 1)
    if len(blocks) == 4:
        counts = tuple(blocks[i] for i in (1, 2, 3, 4))
        depth = _RESNETS.get((counts, any(".conv3." in k for k in keys)))
        kind = f"a ResNet-{depth}" if depth else "a ResNet"
        return f"{kind} (blocks {'/'.join(map(str, counts))})"
    matrices = [k for k in keys if state[k].dim() == 2]
    head = f" ... {matrices[-1]} {'x'.join(map(str, state[matrices[-1]].shape))}" if matrices else ""
    return f"{len(keys)} tensors, {keys[0] if keys else '-'}{head}"


def load_weights(net: nn.Module, state: dict[str, torch.Tensor], name: str, source: str) -> None:
    """Load `state` into `net` strictly (harmless keys aside, noted on stderr); one clear line otherwise."""
    check_finite(state, source)
    target = net.state_dict()
    missing = [k for k in target if k not in state and not _harmless(k)]
    unexpected = [k for k in state if k not in target and not _harmless(k)]
    reshaped = [k for k in target if k in state and tuple(state[k].shape) != tuple(target[k].shape)]
    if missing or unexpected or reshaped:
        raise DeepscopeError(f"{source} does not fit {name}: expected {describe(target)}, found {describe(state)} "
                             f"({_differences(target, state, missing, unexpected, reshaped)})")
    ignored = sorted({why for k in set(state) ^ set(target) if (why := _harmless(k))})
    net.load_state_dict({k: v for k, v in state.items() if k in target}, strict=False)
    if ignored:
        print(f"note: {source}: ignored keys that {name} does not use ({'; '.join(ignored)})", file=sys.stderr)


def _differences(target: dict, state: dict, missing: list, unexpected: list, reshaped: list) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing, e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
    if reshaped:
        k = reshaped[0]
        shape = "x".join(map(str, state[k].shape))
        parts.append(f"{len(reshaped)} of another shape, e.g. {k} {shape} instead of "
                     f"{'x'.join(map(str, target[k].shape))}")
    return "; ".join(parts)
