"""deepscope.memory: large buffers reused without page faults; the environment's own settings kept."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepscope import memory

# Batches of a forward pass in miniature: buffers of 6 to 48 MiB, all held, then all freed, ten times.
PATTERN = """
import os, sys
if sys.argv[1] == "tuned":
    from deepscope import memory
    print(memory.tune(), file=sys.stderr)
import torch
def faults():
    return int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[7])
sizes = [m * 2**20 // 4 for m in (24, 12, 48, 6, 40, 12)]
for _ in range(2):
    held = [torch.ones(n) for n in sizes]
del held
before = faults()
for _ in range(10):
    held = [torch.ones(n) for n in sizes]
    del held
print(faults() - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in (memory.HUGE_PAGES, memory.OFF)}
    if mode != "tuned":
        env[memory.OFF] = "0"
    out = subprocess.run([sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, env=env,
                         check=True, timeout=120)
    return int(out.stdout.split()[-1])


def _huge_pages_possible() -> bool:
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return path.is_file() and "[never]" not in path.read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page-fault counts are read from Linux /proc")
def test_tuned_process_reuses_large_buffers_without_faulting_them_in_again():
    if not _huge_pages_possible():
        pytest.skip("transparent huge pages are off on this machine (/sys/kernel/mm/transparent_hugepage)")
    untuned, tuned = _faults("default"), _faults("tuned")
    # 10 rounds of 142 MiB: about 360,000 4-KiB page faults when every buffer goes back to the system
    assert untuned > 100_000
    assert tuned < untuned / 8


def test_settings_the_environment_gives_are_left_alone(monkeypatch):
    monkeypatch.setenv(memory.HUGE_PAGES, "0")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert memory.tune() == {"huge_pages": False, "malloc": False}
    assert os.environ[memory.HUGE_PAGES] == "0"
    assert memory.environment() == {memory.HUGE_PAGES: "0"}


def test_turned_off_changes_nothing(monkeypatch):
    monkeypatch.delenv(memory.HUGE_PAGES, raising=False)
    monkeypatch.setenv(memory.OFF, "0")
    assert memory.environment() == {}
    assert memory.tune() == {"huge_pages": False, "malloc": False}
    assert memory.HUGE_PAGES not in os.environ


def test_huge_pages_are_not_claimed_once_torch_is_imported(monkeypatch):
    import torch  # noqa: F401  (torch has read its setting by now)

    monkeypatch.delenv(memory.HUGE_PAGES, raising=False)
    monkeypatch.delenv(memory.OFF, raising=False)
    assert memory.tune()["huge_pages"] is False
    assert memory.HUGE_PAGES not in os.environ
    if sys.platform.startswith("linux"):
        assert memory.environment() == {memory.HUGE_PAGES: "1"}  # for processes started from here
