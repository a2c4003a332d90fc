"""User-facing errors: the CLI prints these as one clear message, without a traceback."""
import difflib


class DeepscopeError(Exception):
    """A problem with what the user asked for; the message says what is wrong and how to fix it."""


def close_matches(name: str, candidates, n: int = 5) -> list[str]:
    """Names among `candidates` that look like `name` (for 'did you mean' hints)."""
    candidates = list(dict.fromkeys(candidates))
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not found:
        found = [c for c in candidates if name and (name in c or c in name)][:n]
    return found


def unknown_name_error(kind: str, name: str, candidates, listing_hint: str = "") -> DeepscopeError:
    """An error for an unknown model/layer/class name that lists the closest valid names."""
    near = close_matches(name, candidates)
    msg = f"unknown {kind} {name!r}"
    if near:
        msg += "; close matches: " + ", ".join(near)
    if listing_hint:
        msg += f" ({listing_hint})"
    return DeepscopeError(msg)
