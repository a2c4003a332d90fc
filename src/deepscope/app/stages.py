"""Resumable build steps: each stage is a `Job` whose state file is its done-marker.

A stage writes its outputs, then its marker `.build/<stage>.done` (the stage finished, with its
timings, under its settings key). A rerun skips every stage whose marker carries the same key; a
stage with other settings (or no marker, e.g. after a crash) runs again and reuses whatever finished
work its own functions keep (rendered units, checkpointed passes, collected activation shards).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from deepscope.jobs import Job

MARKERS = ".build"


class StageRunner:
    """Runs named stages in order under `site/.build/`, printing one progress line per stage."""

    def __init__(self, site: Path, total: int, progress: bool = True):
        self.site, self.total, self.progress = Path(site), total, progress
        self.count = 0
        self.ran: list[str] = []
        self.skipped: list[str] = []
        self.timings: dict[str, float] = {}  # wall seconds
        self.cpu: dict[str, float] = {}  # CPU seconds of this process (all threads)

    def marker(self, name: str) -> Path:
        return self.site / MARKERS / f"{name.replace('/', '_')}.done"

    def job(self, name: str, key: str) -> Job:
        """Stage `name` with settings `key` as a job of one unit (the stage), kept in its marker."""
        marker = self.marker(name)
        return Job(marker.parent, name, {"stage": name, "key": key}, state_name=marker.name, quiet=True)

    def done(self, name: str, key: str) -> bool:
        return self.job(name, key).done(name)

    def run(self, name: str, key: str, fn: Callable[[], object]) -> None:
        """Run `fn` unless stage `name` already finished with settings `key`."""
        self.count += 1
        prefix = f"[site {self.count}/{self.total}] {name}"
        job = self.job(name, key)
        if job.done(name):
            self.skipped.append(name)
            self._say(f"{prefix}: done before, skipped")
            return
        self._say(f"{prefix} ...")
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        self.timings[name], self.cpu[name] = round(seconds, 2), round(cpu, 2)
        job.finish(name, {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2)})
        self.ran.append(name)
        self._say(f"{prefix}: {seconds:.1f} s ({cpu:.1f} s CPU)")

    def _say(self, text: str) -> None:
        if self.progress:
            print(text, flush=True)
