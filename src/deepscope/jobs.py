"""The one way a long job resumes: a settings key, atomic writes, finished units skipped.

A `Job` lives in a folder as one small JSON state file holding the key of its settings, the
settings themselves (to say what changed) and a record per finished unit. A rerun with the same
settings skips every finished unit and reads its record back; a rerun with other settings says
which settings changed and starts over (or, with `strict=True`, stops with a clear error, for
folders whose contents cannot be mixed). Every file is written atomically: into a temporary file
beside it, flushed to disk, then renamed, so a killed run leaves the old file or the new one.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepscope.errors import DeepscopeError


def settings_key(settings: Any, length: int = 16) -> str:
    """A short hash of JSON-able `settings` (other values are hashed by their `str`)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `path` so that readers never see it half-written (temporary file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomic text file (see `write_bytes`)."""
    write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, value: Any, indent: int | None = 1) -> None:
    """Atomic JSON file; NaN or infinity is refused with a clear error (it would not be valid JSON)."""
    try:
        text = json.dumps(value, indent=indent, allow_nan=False)
    except ValueError:
        where = nonfinite_path(value) or "a value"
        raise DeepscopeError(f"{Path(path).name} would hold NaN or infinity at {where} (not valid JSON): the "
                             "model produced NaN or infinite values; check its weights (--weights)") from None
    write_text(path, text + "\n")


def nonfinite_path(value: Any, where: str = "") -> str | None:
    """Where the first NaN or infinity in a JSON-like value sits (e.g. `cells[3].score`), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where or "the top level"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = nonfinite_path(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
        if found:
            return found.lstrip(".")
    return None


def write_array(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomic `.npy` file."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    write_bytes(path, buffer.getvalue())


def write_tensors(path: str | os.PathLike, value: Any) -> None:
    """Atomic `torch.save` file (tensors, dicts and lists of them)."""
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    write_bytes(path, buffer.getvalue())


def read_json(path: str | os.PathLike) -> Any | None:
    """The JSON at `path`, or None when it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def changed_settings(old: dict, new: dict, limit: int = 4) -> str:
    """`name: old -> new` for the settings that differ (at most `limit` of them)."""
    names = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    text = ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "unknown"


class Job:
    """A resumable job in `folder`: finished units are recorded in the state file `state_name`.

    `settings` must hold everything that determines the result. `strict=True` refuses a folder
    that holds the same job with other settings; otherwise the old state is dropped with a note.
    `units_name`: the state's field for the finished units (a job whose file names it otherwise).
    """

    def __init__(self, folder: str | os.PathLike, name: str, settings: dict, *, state_name: str | None = None,
                 strict: bool = False, quiet: bool = False, units_name: str = "units"):
        self.folder, self.name, self.units_name = Path(folder), name, units_name
        self.settings = json.loads(json.dumps(settings, sort_keys=True, default=str))
        self.key = settings_key(self.settings)
        self.path = self.folder / (state_name or f".{name}-state.json")
        old = read_json(self.path)
        if isinstance(old, dict) and old.get("key") != self.key:
            what = changed_settings(old.get("settings") or {}, self.settings)
            if strict:
                raise DeepscopeError(f"{str(self.folder)!r} holds a {name} run with other settings ({what}); "
                                     "use another output folder or delete this one")
            if not quiet:
                print(f"note: {self.folder} held a {name} run with other settings ({what}); starting it over",
                      file=sys.stderr)
            old = None
        self.state = old if isinstance(old, dict) else {"key": self.key, "settings": self.settings}
        self.state.setdefault(units_name, {})

    @property
    def units(self) -> dict[str, Any]:
        """Finished units and their records, in the order they finished."""
        return self.state[self.units_name]

    def done(self, unit: str) -> bool:
        return unit in self.units

    def record(self, unit: str) -> Any:
        return self.units.get(unit)

    def finish(self, unit: str, record: Any = True) -> Any:
        """Mark `unit` finished with its `record` (JSON-able); written at once."""
        self.units[unit] = record
        self.save()
        return record

    def run(self, unit: str, work: Callable[[], Any]) -> Any:
        """The record of `unit`: read back when finished before, else `work()` recorded."""
        if self.done(unit):
            return self.record(unit)
        return self.finish(unit, work())

    def forget(self, unit: str) -> None:
        if self.units.pop(unit, None) is not None:
            self.save()

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.state, indent=None)

    # --- larger state, beside the JSON: tensors checked against the key ----------------------------
    def save_tensors(self, path: str | os.PathLike, value: Any) -> None:
        """Write `value` (tensors) to `path` with this job's key, atomically."""
        write_tensors(path, {"key": self.key, "value": value})

    def load_tensors(self, path: str | os.PathLike) -> Any | None:
        """What `save_tensors` wrote with the same settings, or None (missing, damaged, other settings)."""
        import torch

        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a missing or damaged checkpoint only means starting over
            return None
        return saved.get("value") if isinstance(saved, dict) and saved.get("key") == self.key else None
