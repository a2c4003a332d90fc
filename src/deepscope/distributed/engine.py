"""The Ray engine: actors that each load the model once and run one task per shard range.

`open_engine("local", ...)` yields None (the caller's in-process path; Ray is never imported);
`open_engine("ray", model, ...)` yields a `RayEngine` that, at its first task, starts a local Ray
for the run (or joins `address`) and `workers` actors holding the model, and shuts it all down at
the end (a run with nothing left to do starts nothing). A worker that dies mid-task
is restarted by Ray and its task retried (`max_restarts` / `max_task_retries`); the tasks write
or return what the in-process run does, so the result does not depend on the engine.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from deepscope import memory
from deepscope.errors import DeepscopeError

ENGINES = ("local", "ray")
RETRIES = 3  # restarts of a dead worker, and retries of the task it was running


AUTH_HINT = ("if the cluster uses token authentication, set RAY_AUTH_MODE=token and give the token as "
             "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token")


def client_auth_mode(environ=os.environ, home: Path | None = None) -> str | None:
    """"token" when the environment sets no RAY_AUTH_MODE and a Ray authentication token is given
    (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH) or saved (~/.ray/auth_token); else None (leave it)."""
    if "RAY_AUTH_MODE" in environ:
        return None
    saved = (home or Path.home()) / ".ray" / "auth_token"
    return "token" if environ.get("RAY_AUTH_TOKEN") or environ.get("RAY_AUTH_TOKEN_PATH") or saved.is_file() else None


def require_ray():
    """The `ray` module, or a clear error naming the extra to install.

    Clusters started by `ray start` use token authentication, which a client only sends when
    RAY_AUTH_MODE=token is set before Ray is imported: it is set here when a token is at hand and
    the environment says nothing (a client with a token also joins a cluster without authentication)."""
    if "ray" not in sys.modules and (mode := client_auth_mode()):
        os.environ["RAY_AUTH_MODE"] = mode
    try:
        import ray
    except ImportError:
        raise DeepscopeError('--engine ray needs Ray, which is not installed: pip install "deepscope[ray]"') from None
    return ray


def _by_name(model) -> bool:
    """Whether a worker can load `model` by its name without downloading anything."""
    from deepscope.models.digits import DIGITS_MODELS
    from deepscope.models.efficientnet_lite import OFFLINE_MODELS

    return model.name in (*OFFLINE_MODELS, *DIGITS_MODELS) or model.weights_source is not None


@dataclass
class ModelSpec:
    """How a worker gets the model: by name (and weights file, or random weights) where that needs no
    download, else the driver's `VisionModel` itself (pickled, e.g. one made by `from_module`)."""

    key: str
    name: str | None = None
    weights: str | None = None
    pretrained: bool = True
    module: Any = None
    device: str = "cpu"

    @classmethod
    def of(cls, model) -> ModelSpec:
        device = str(model.device)
        if not _by_name(model):
            return cls(model.key, module=model, device=device)
        source = model.weights_source
        return cls(model.key, model.name, None if source in (None, "random") else source, source != "random",
                   device=device)

    def load(self):
        if self.module is not None:
            return self.module.to(self.device)
        from deepscope.models import load_model

        return load_model(self.name, weights=self.weights, pretrained=self.pretrained, device=self.device)


class ShardWorker:
    """A Ray actor's state: the model, loaded once; `run` applies a task's work to it."""

    def __init__(self, spec: ModelSpec, threads: int):
        memory.tune()  # huge pages too where torch is not imported yet (else the actor's environment has them)
        import torch

        torch.set_num_threads(threads)
        self.model = spec.load()

    def ready(self) -> int:
        return os.getpid()

    def run(self, work: Callable, task: tuple[int, int]):
        return task, work(self.model, task)


class RayEngine:
    """`workers` Ray actors holding `model` (a `VisionModel` or a `ModelSpec`), `threads` torch threads
    each; `address` joins a running cluster, else a local Ray is started and shut down on exit."""

    def __init__(self, model, *, workers: int | None = None, threads: int = 1, address: str | None = None,
                 retries: int = RETRIES):
        if (workers is not None and workers < 1) or threads < 1:
            raise DeepscopeError("--ray-workers and --threads must be at least 1")
        self.spec = model if isinstance(model, ModelSpec) else ModelSpec.of(model)
        self.workers, self.threads, self.address, self.retries = workers, threads, address, retries
        self.actors: list = []
        self.startup_s = 0.0
        self._owns_ray = False

    def __enter__(self):
        require_ray()  # a missing Ray is said before any work; Ray itself starts with the first task
        return self

    def start(self) -> RayEngine:
        """Start (or join) Ray and the workers, once; `startup_s` says how long that took."""
        if self.actors:
            return self
        ray = require_ray()
        start = time.monotonic()
        if not ray.is_initialized():
            self._init(ray)
        try:
            self._start_workers(ray)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.startup_s = time.monotonic() - start
        return self

    def _start_workers(self, ray) -> None:
        cpus = ray.cluster_resources().get("CPU", 0)
        if self.workers is None:
            self.workers = max(1, int(ray.available_resources().get("CPU", 1) // self.threads))
        if self.workers * self.threads > cpus:
            raise DeepscopeError(f"{self.workers} Ray workers of {self.threads} thread(s) need "
                                 f"{self.workers * self.threads} CPUs and the cluster has {cpus:g}: use fewer "
                                 "--ray-workers or --threads")
        gpus = 1.0 / self.workers if self.spec.device.startswith("cuda") else 0
        # a Ray started here passes this process's environment (memory settings included) to its workers;
        # elsewhere the settings go with the actors (a runtime environment costs ~0.4 s at start)
        inherited = self._owns_ray and not self.address
        actor = ray.remote(num_cpus=self.threads, num_gpus=gpus, max_restarts=self.retries,
                           max_task_retries=self.retries,
                           runtime_env=None if inherited else {"env_vars": memory.environment()})(ShardWorker)
        self.actors = [actor.remote(self.spec, self.threads) for _ in range(self.workers)]
        ray.get([a.ready.remote() for a in self.actors])

    def _init(self, ray) -> None:
        quiet = {"log_to_driver": False, "logging_level": "warning"}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                cpus = self.threads * self.workers if self.workers else os.cpu_count() or 1
                ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
        except ConnectionError as err:
            raise DeepscopeError(f"cannot join the Ray cluster at {self.address!r} ({err}); check --address "
                                 f"or leave it out for a local Ray; {AUTH_HINT}") from None
        self._owns_ray = True

    def __exit__(self, *exc) -> None:
        if not self.actors and not self._owns_ray:
            return
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def check(self, model) -> None:
        """A clear error when `model` is not the model the workers hold."""
        if model.key != self.spec.key:
            raise DeepscopeError(f"the Ray workers hold {self.spec.key!r}, not {model.key!r}: open the engine "
                                 "with the model you pass")

    def map(self, work: Callable, ranges: Sequence[tuple[int, int]], *, desc: str = "shards",
            progress: bool = True) -> Iterator[tuple[tuple[int, int], Any]]:
        """(range, work(model, range)) for every image range, in the order they finish; the progress bar
        counts images over all workers."""
        from ray.util import ActorPool

        if not ranges:
            return
        total = sum(end - first for first, end in ranges)
        bar = tqdm(total=total, desc=f"{desc} [starting ray]", unit="img", disable=not progress, dynamic_ncols=True)
        self.start()
        bar.set_description(f"{desc} [{self.workers} ray workers]")
        bar.reset(total)  # the rate counts images per second of work, over all workers, without the start-up
        pool = ActorPool(self.actors)
        try:
            for (first, end), result in _results(pool.map_unordered(lambda a, task: a.run.remote(work, task),
                                                                    list(ranges)), self.retries):
                bar.update(end - first)
                yield (first, end), result
        finally:
            bar.close()


def _results(results: Iterator, retries: int) -> Iterator:
    """`results`, with a user error raised in a worker re-raised as itself (one line, not Ray's report),
    and a worker lost more often than Ray retries named."""
    from ray.exceptions import RayActorError, RayTaskError

    try:
        yield from results
    except RayTaskError as err:
        if isinstance(err.cause, DeepscopeError):
            raise err.cause from None
        raise
    except RayActorError as err:
        raise DeepscopeError(f"a Ray worker died more than {retries} times ({type(err).__name__}); rerun the "
                             "command: it resumes from the finished shards") from err


@contextlib.contextmanager
def open_engine(kind: str | None = "local", model=None, *, address: str | None = None,
                workers: int | None = None, threads: int | None = None) -> Iterator[RayEngine | None]:
    """None for the in-process engine (nothing imported); a started `RayEngine` for "ray"."""
    if kind in (None, "local"):
        if address is not None or workers is not None:
            raise DeepscopeError("--address and --ray-workers need --engine ray")
        yield None
        return
    if kind != "ray":
        raise DeepscopeError(f"unknown engine {kind!r}: use one of {', '.join(ENGINES)}")
    with RayEngine(model, workers=workers, threads=threads or 1, address=address) as engine:
        yield engine
