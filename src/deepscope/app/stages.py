"""Resumable build steps: each stage is a `Job` whose state file is its done-marker.

A stage writes its outputs, then its marker `.build/<stage>.done` (the stage finished, with its
timings, under its settings key). A rerun skips every stage whose marker carries the same key; a
stage with other settings (or no marker, e.g. after a crash) runs again and reuses whatever finished
work its own functions keep (rendered units, checkpointed passes, collected activation shards).

Every stage comes with an estimate of its cost (seconds on two CPU cores, `app.costs`); the progress
line of a stage says how much time is left: the estimates of the stages still to run, scaled by how
fast the stages run so far went against their own estimates.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from deepscope.jobs import Job

MARKERS = ".build"
PRIOR = 30.0  # seconds of the estimates taken at face value: a short first stage does not set the speed


def duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class StageRunner:
    """Runs named stages in order under `site/.build/`, printing one progress line per stage.

    `plan`: every stage of the build in order with its estimated seconds (a stage not run, e.g. an
    atlas of a vector layer, is `skip`ped so that the count and the estimate stay right).
    """

    def __init__(self, site: Path, plan: dict[str, float], progress: bool = True):
        self.site, self.plan, self.progress = Path(site), dict(plan), progress
        self.total = len(self.plan)
        self.count = 0
        self.ran: list[str] = []
        self.skipped: list[str] = []
        self.timings: dict[str, float] = {}  # wall seconds
        self.cpu: dict[str, float] = {}  # CPU seconds of this process (all threads)
        self._left = list(self.plan)  # stages not yet run or skipped
        self._spent = self._expected = 0.0  # wall seconds and estimates of the stages run so far

    def marker(self, name: str) -> Path:
        return self.site / MARKERS / f"{name.replace('/', '_')}.done"

    def job(self, name: str, key: str) -> Job:
        """Stage `name` with settings `key` as a job of one unit (the stage), kept in its marker."""
        marker = self.marker(name)
        return Job(marker.parent, name, {"stage": name, "key": key}, state_name=marker.name, quiet=True)

    def done(self, name: str, key: str) -> bool:
        return self.job(name, key).done(name)

    def time_left(self) -> float:
        """Estimated seconds for the stages still to run, at the speed seen so far
        (the run stages' seconds over their estimates, both plus `PRIOR`)."""
        speed = (self._spent + PRIOR) / (self._expected + PRIOR)
        return speed * sum(self.plan.get(name, 0.0) for name in self._left)

    def skip(self, name: str) -> None:
        """Stage `name` of the plan does not apply to this build."""
        self.count += 1
        self._drop(name)

    def run(self, name: str, key: str, fn: Callable[[], object]) -> None:
        """Run `fn` unless stage `name` already finished with settings `key`."""
        self.count += 1
        prefix = f"[site {self.count}/{self.total}] {name}"
        job = self.job(name, key)
        if job.done(name):
            self.skipped.append(name)
            self._drop(name)
            self._say(f"{prefix}: done before, skipped")
            return
        self._say(f"{prefix} ... (about {duration(self.time_left())} left)")
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        self.timings[name], self.cpu[name] = round(seconds, 2), round(cpu, 2)
        job.finish(name, {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2)})
        self.ran.append(name)
        self._spent += seconds
        self._expected += self.plan.get(name, 0.0)
        self._drop(name)
        left = f"about {duration(self.time_left())} left" if self._left else "last stage"
        self._say(f"{prefix}: {seconds:.1f} s ({cpu:.1f} s CPU); {left}")

    def _drop(self, name: str) -> None:
        if name in self._left:
            self._left.remove(name)

    def _say(self, text: str) -> None:
        if self.progress:
            print(text, flush=True)
