"""Several processes writing one activation store: the race for a shard is harmless, orphans of dead
writers are removed, a shard that differs from the one already there is an error."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepscope.atlas.collection.publish import ORPHAN_AGE_S, _host, clean_orphans, publish, temp_folder
from deepscope.errors import DeepscopeError


def _collect(images: Path, store: Path, barrier=None, report: Path | None = None) -> None:
    """Collect a tiny store; with a barrier, each writer waits before renaming its first shard until
    the other one got there too, so both rename the same shard at the same moment."""
    import torch

    from deepscope.atlas import collect
    from deepscope.atlas.collection import run
    from deepscope.models import load_model

    torch.set_num_threads(1)
    original = run.write_shard

    def together(root, first, *rest):
        if barrier is not None and first == 0:
            barrier.wait(timeout=60)
        published = original(root, first, *rest)
        if report is not None and first == 0:
            report.with_name(f"{report.name}-{os.getpid()}").write_text("renamed" if published else "accepted")
        return published

    run.write_shard = together
    collect(load_model("digits_cnn"), "layer2", images, store, positions=2, batch_size=4, shard_size=4,
            workers=0, progress=False)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_processes_on_one_store_both_succeed_and_equal_a_single_run(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"{i:02d}.png")
    shared, barrier = tmp_path / "shared", tmp_path / "barrier"
    barrier.mkdir()
    orphan = temp_folder(shared / "shards" / "000000004-000000008").with_name(
        f".tmp-000000004-000000008-{_dead_pid()}-{_host()}")
    orphan.mkdir(parents=True)
    (orphan / "acts.npy").write_bytes(b"half written")
    # forkserver: torch is imported once (preloaded), each writer is a fresh single-threaded fork
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "deepscope.atlas", "deepscope.models"])
    barrier = context.Barrier(2)
    runs = [(images, shared, barrier, tmp_path / "first"), (images, shared, barrier, tmp_path / "first"),
            (images, tmp_path / "single")]
    procs = [context.Process(target=_collect, args=a) for a in runs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0], "a collection on the shared store failed"
    first = sorted(p.read_text() for p in tmp_path.glob("first-*"))
    assert first == ["accepted", "renamed"]  # both wrote shard 0; the second kept the first
    assert not list((shared / "shards").glob(".tmp-*")), "an orphaned or lost temporary shard stayed"
    single, together = _files(tmp_path / "single"), _files(shared)
    assert single.keys() == together.keys() and "shards/000000008-000000010/acts.npy" in single
    assert all(single[k] == together[k] for k in single), "the store written by two processes differs"


def _shard(folder: Path, acts: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "acts.npy").write_bytes(acts)
    (folder / "failed.json").write_text("[]\n")
    return folder


def test_only_temporary_shards_without_a_live_writer_are_removed(tmp_path):
    shards = tmp_path / "shards"
    dead, host = _dead_pid(), _host()
    names = {
        f".tmp-000000000-000000004-{dead}-{host}": False,  # its writer is gone
        f".tmp-000000000-000000004-{dead}": False,  # the same, written before names carried the host
        f".tmp-000000004-000000008-{os.getpid()}-{host}": True,  # a live writer
        f".tmp-000000008-000000012-{dead}-elsewhere": True,  # another machine's writer: only age tells
        ".tmp-notes": True,  # not a shard
    }
    old = {f".tmp-000000012-000000016-{os.getpid()}-{host}", f".tmp-000000016-000000020-{dead}-elsewhere"}
    for name in [*names, *old]:
        (shards / name).mkdir(parents=True)
    past = time.time() - ORPHAN_AGE_S - 60
    for name in old:
        os.utime(shards / name, (past, past))
    removed = clean_orphans(shards)
    assert set(removed) == {n for n, kept in names.items() if not kept} | old
    assert sorted(p.name for p in shards.iterdir()) == sorted(n for n, kept in names.items() if kept)


def test_a_shard_published_first_elsewhere_is_accepted_only_when_it_matches(tmp_path):
    final = _shard(tmp_path / "shards" / "000000000-000000004", b"1234")
    assert publish(_shard(temp_folder(final), b"5678"), final) is False  # same files and sizes: accepted
    assert (final / "acts.npy").read_bytes() == b"1234" and not temp_folder(final).exists()
    with pytest.raises(DeepscopeError, match="other contents.*delete the store"):
        publish(_shard(temp_folder(final), b"123456"), final)
    assert not temp_folder(final).exists() and (final / "acts.npy").read_bytes() == b"1234"
    fresh = tmp_path / "shards" / "000000004-000000008"
    assert publish(_shard(temp_folder(fresh), b"ab"), fresh) is True and (fresh / "failed.json").exists()
