"""Process memory settings that make PyTorch's large CPU buffers cheap to reuse.

A forward pass allocates and frees the same large buffers batch after batch. By default glibc hands
big freed blocks back to the operating system and the next batch faults every page in again (about
9,000 page faults per image in atlas collection on EfficientNet-Lite0, a quarter of its CPU time;
how many depends on the process's allocation history, so two processes doing the same work can
differ by 15%). `tune()`:

- asks PyTorch to back its allocations of 2 MiB and more with transparent huge pages
  (`THP_MEM_ALLOC_ENABLE=1`, which torch reads at its first allocation: call `tune()` before
  `import torch` for this part to apply);
- fixes glibc's mmap threshold at its largest value (32 MiB) and raises its trim threshold
  (`mallopt`), so that freed memory stays in the process for the next batch instead of going back
  and forth (the peak heap stays resident).

What the environment already sets (`THP_MEM_ALLOC_ENABLE`, `MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_`) is left as it is; `DEEPSCOPE_TUNE_MEMORY=0` turns all of it off. Off Linux
or without glibc, nothing is changed. The command line and the Ray workers call it at start.
"""
from __future__ import annotations

import ctypes
import os
import sys

HUGE_PAGES = "THP_MEM_ALLOC_ENABLE"
OFF = "DEEPSCOPE_TUNE_MEMORY"
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed fixed value on 64-bit
TRIM_THRESHOLD = 2**31 - 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)


def environment() -> dict[str, str]:
    """The environment variables `tune` sets, for processes started elsewhere (Ray workers)."""
    if os.environ.get(OFF) == "0" or not sys.platform.startswith("linux"):
        return {}
    return {HUGE_PAGES: os.environ.get(HUGE_PAGES, "1")}


def tune() -> dict[str, bool]:
    """Apply the settings above to this process; says which took effect: `huge_pages` (False when
    torch was imported first or the environment decides) and `malloc` (glibc's thresholds)."""
    done = {"huge_pages": False, "malloc": False}
    if not environment():
        return done
    if HUGE_PAGES not in os.environ and "torch" not in sys.modules:
        os.environ[HUGE_PAGES] = "1"
        done["huge_pages"] = True
    done["malloc"] = _glibc_thresholds()
    return done


def _glibc_thresholds() -> bool:
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
    except (ValueError, OSError):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    applied = False
    for name, param, value in (("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                               ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        if name not in os.environ:
            applied |= mallopt(param, value) == 1
    return applied
