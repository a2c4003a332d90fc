"""Shared by the bench scripts: thread choice, environment record, resumable JSON results."""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from deepscope.viz.output import write_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHARED_DATA = Path(os.environ.get("DEEPSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


def choose_threads(requested: str) -> int:
    """`auto`: 2 threads when the machine looks idle (1-min load < 0.5), else 1."""
    if requested != "auto":
        return int(requested)
    return 2 if os.getloadavg()[0] < 0.5 else 1


def environment(threads: int) -> dict:
    """What the numbers were measured on."""
    import torch  # here, so that a bench can set up the process (deepscope.memory) before torch loads

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "threads": threads,
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("torch", "timm", "torch-lucent", "kornia", "dreamlens")},
        "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
        "git_commit": _git("rev-parse", "HEAD"),
        "engine_uncommitted_changes": bool(_git("status", "--porcelain", "--", "src/deepscope/render", "src/deepscope/models")),
    }


def proc_stat(pid: int | str = "self") -> list[str]:
    """The fields of `/proc/PID/stat` after the command name (Linux): [7] minor page faults,
    [11] and [12] user and system CPU time in clock ticks."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _git(*args: str) -> str | None:
    """Output of a git command in the repository (None outside a checkout)."""
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


class Results:
    """A JSON results file written after every section, so that a rerun with `resume` skips
    the sections already measured with the same configuration."""

    def __init__(self, path: Path, config: dict, resume: bool):
        self.path = Path(path)
        self.data: dict = {"config": config, "sections": {}}
        if resume and self.path.exists():
            old = json.loads(self.path.read_text())
            if old.get("config") == config:
                self.data = old

    def has(self, name: str) -> bool:
        return name in self.data["sections"]

    def get(self, name: str):
        return self.data["sections"][name]

    def put(self, name: str, value) -> None:
        self.data["sections"][name] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(self.data, indent=2))
