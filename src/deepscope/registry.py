"""Named registries (parameterizations, transform sets, saliency methods) that users can extend.

    from deepscope.render import register_param
    register_param("my_param", MyImage, lr=0.05)   # then render(..., param="my_param")
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from deepscope.errors import unknown_name_error


class Registry:
    """A mapping from names to entries with a `register` function; unknown names list close ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, entry: Any = None, *, replace: bool = False):
        """Add `entry` under `name`; without `entry`, a decorator that registers what it decorates."""
        if entry is None:
            return lambda value: self.register(name, value, replace=replace)
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered already (pass replace=True to override it)")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise unknown_name_error(self.kind, name, list(self._entries), f"choose one of {', '.join(self)}")
        return self._entries[name]

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self):
        return self._entries.items()


def registry_function(registry: Registry) -> Callable:
    """The public `register_*` function of `registry`."""
    def register(name: str, entry: Any = None, *, replace: bool = False):
        return registry.register(name, entry, replace=replace)
    register.__doc__ = f"Register a {registry.kind} under `name` (also usable as a decorator)."
    return register
