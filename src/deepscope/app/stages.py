"""Resumable build steps: each stage writes its outputs, then a done-marker holding its settings key.

A rerun skips every stage whose marker carries the same key; a stage with other settings (or no
marker, e.g. after a crash) runs again and reuses whatever finished work its own functions keep
(rendered units, checkpointed passes, collected activation shards).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from deepscope.viz.output import write_atomic

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

    def done(self, name: str, key: str) -> bool:
        path = self.marker(name)
        try:
            return json.loads(path.read_text()).get("key") == key
        except (OSError, json.JSONDecodeError):
            return False

    def run(self, name: str, key: str, fn: Callable[[], object]) -> None:
        """Run `fn` unless stage `name` already finished with settings `key`."""
        self.count += 1
        prefix = f"[site {self.count}/{self.total}] {name}"
        if self.done(name, key):
            self.skipped.append(name)
            self._say(f"{prefix}: done before, skipped")
            return
        self._say(f"{prefix} ...")
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        self.timings[name], self.cpu[name] = round(seconds, 2), round(cpu, 2)
        self.marker(name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.marker(name), json.dumps({"key": key, "seconds": round(seconds, 2), "cpu_s": round(cpu, 2)}))
        self.ran.append(name)
        self._say(f"{prefix}: {seconds:.1f} s ({cpu:.1f} s CPU)")

    def _say(self, text: str) -> None:
        if self.progress:
            print(text, flush=True)
