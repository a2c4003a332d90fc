"""How a finished shard folder enters a store, safely when several processes write the same store.

A shard is written into `shards/.tmp-<range>-<pid>-<host>/` and renamed into place while holding
the store's lock (`fcntl.flock` on `<store>/.lock`). When another process renamed the same shard
first, ours is checked against it (same files, same sizes: both were collected with the settings
in `meta.json`) and dropped. Temporary folders whose writer is gone (its pid no longer runs on
this host, or the folder is older than `ORPHAN_AGE_S`) are orphans of killed runs and are removed.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from deepscope.errors import DeepscopeError

try:
    import fcntl
except ImportError:  # not POSIX: the rename protocol alone (a lost race is still accepted)
    fcntl = None

LOCK = ".lock"
DONE = "failed.json"  # written last: its presence marks a complete shard
ORPHAN_AGE_S = 3600.0  # a writer keeps its temporary folder for seconds; one this old is abandoned
_TEMP = re.compile(r"\.tmp-(?P<shard>\d+-\d+)-(?P<pid>\d+)(?:-(?P<host>.+))?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def temp_folder(final: Path) -> Path:
    """The temporary folder this process writes `final` into before renaming it."""
    return final.with_name(f".tmp-{final.name}-{os.getpid()}-{_host()}")


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """Hold the store's exclusive lock (other processes wait; released when the block ends)."""
    try:
        fd = os.open(root / LOCK, os.O_WRONLY | os.O_CREAT, 0o644) if fcntl is not None else None
    except OSError:  # a read-only store: nobody writes it, reading it needs no lock
        fd = None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_orphan(tmp: Path) -> bool:
    """Whether the temporary shard folder `tmp` has no live writer."""
    match = _TEMP.match(tmp.name)
    if match is None:
        return False
    try:
        age = time.time() - tmp.stat().st_mtime
    except FileNotFoundError:  # its writer renamed or removed it meanwhile
        return False
    if age > ORPHAN_AGE_S:
        return True
    return match["host"] in (None, _host()) and not _running(int(match["pid"]))


def clean_orphans(shards: Path) -> list[str]:
    """Remove the temporary shard folders of writers that are gone; returns their names."""
    removed = []
    for tmp in sorted(shards.glob(".tmp-*")):
        if is_orphan(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp.name)
    return removed


def _listing(folder: Path) -> dict[str, int]:
    return {f.name: f.stat().st_size for f in folder.iterdir()}


def publish(tmp: Path, final: Path) -> bool:
    """Rename the complete folder `tmp` to `final`; False when another process published it first
    (then `tmp` is checked against it and removed)."""
    root = final.parent.parent
    with store_lock(root):
        if not (final / DONE).exists():
            shutil.rmtree(final, ignore_errors=True)  # never a complete shard: the marker is written last
            try:
                os.replace(tmp, final)
                return True
            except OSError:
                if not (final / DONE).exists():  # no lock on this system and a writer was quicker
                    raise
        ours, theirs = _listing(tmp), _listing(final)
        shutil.rmtree(tmp, ignore_errors=True)
    if ours != theirs:
        raise DeepscopeError(f"shard {final.name} of the store {str(root)!r} was written by another run with "
                             f"other contents ({sorted(theirs.items())} there, {sorted(ours.items())} here): the "
                             "images changed under the store; delete the store and collect again")
    return False
