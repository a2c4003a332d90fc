"""The one resume mechanism: finished units skipped, changed settings named, strict folders, keyed
tensors, and atomic writes that never leave a half-written file."""
from __future__ import annotations

import json
import os

import pytest
import torch

from deepscope import jobs
from deepscope.errors import DeepscopeError
from deepscope.jobs import Job, changed_settings, settings_key


def _run_all(job: Job, units, calls: list) -> list:
    def work(unit):
        calls.append(unit)
        return {"unit": unit, "value": len(unit)}

    return [job.run(unit, lambda u=unit: work(u)) for unit in units]


def test_same_settings_skip_finished_units(tmp_path):
    settings = {"size": 64, "steps": 32, "layers": ["blocks.4"]}
    first, calls = Job(tmp_path, "render", settings), []
    records = _run_all(first, ["a", "b"], calls)
    assert calls == ["a", "b"] and (tmp_path / ".render-state.json").is_file()
    again, calls = Job(tmp_path, "render", dict(reversed(list(settings.items())))), []  # same settings, other order
    assert again.key == first.key and again.done("a") and list(again.units) == ["a", "b"]
    assert _run_all(again, ["a", "b", "c"], calls) == records + [{"unit": "c", "value": 1}]
    assert calls == ["c"]  # only the unfinished unit ran
    assert Job(tmp_path, "render", settings).record("c") == {"unit": "c", "value": 1}


def test_other_settings_say_what_changed_and_start_over(tmp_path, capsys):
    Job(tmp_path, "render", {"size": 64, "steps": 32}).finish("a", 1)
    job = Job(tmp_path, "render", {"size": 128, "steps": 32})
    err = capsys.readouterr().err
    assert "other settings" in err and "size: 64 then, 128 now" in err and "steps" not in err
    assert job.units == {} and not job.done("a")
    job.finish("b", 2)  # the new run replaces the old state
    assert list(Job(tmp_path, "render", {"size": 128, "steps": 32}).units) == ["b"]
    assert changed_settings({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == "b: 2 then, 3 now, c: None then, 4 now"
    assert changed_settings({}, {}) == "unknown"


def test_strict_job_refuses_a_folder_with_other_settings(tmp_path):
    Job(tmp_path, "collect", {"layer": "blocks.4"}, strict=True).finish("shard-0")
    assert Job(tmp_path, "collect", {"layer": "blocks.4"}, strict=True).done("shard-0")
    with pytest.raises(DeepscopeError, match=r"other settings \(layer: 'blocks.4' then, 'blocks.5' now\)"):
        Job(tmp_path, "collect", {"layer": "blocks.5"}, strict=True)
    assert Job(tmp_path, "collect", {"layer": "blocks.4"}).done("shard-0")  # the refused run changed nothing


def test_tensors_are_read_back_only_under_the_same_key(tmp_path):
    path = tmp_path / "state.pt"
    job = Job(tmp_path, "pass", {"k": 3})
    job.save_tensors(path, {"done": 6, "scores": torch.arange(4.0)})
    saved = Job(tmp_path, "pass", {"k": 3}).load_tensors(path)
    assert saved["done"] == 6 and torch.equal(saved["scores"], torch.arange(4.0))
    assert Job(tmp_path, "pass", {"k": 4}).load_tensors(path) is None  # other settings
    assert job.load_tensors(tmp_path / "missing.pt") is None
    (tmp_path / "damaged.pt").write_bytes(b"not a checkpoint")
    assert job.load_tensors(tmp_path / "damaged.pt") is None


def test_a_killed_writer_never_leaves_a_half_written_target(tmp_path, monkeypatch):
    job = Job(tmp_path, "render", {"size": 64})
    job.finish("a", [1, 2])
    before = job.path.read_bytes()
    # A writer killed mid-write leaves its temporary file beside the target, never a partial target.
    leftover = job.path.with_name(f".{job.path.name}.{os.getpid() + 1}.tmp")
    leftover.write_bytes(before[: len(before) // 2])
    assert Job(tmp_path, "render", {"size": 64}).record("a") == [1, 2]

    def killed(_src, _dst):
        raise KeyboardInterrupt  # the process stops after writing the temporary file, before the rename

    monkeypatch.setattr(jobs.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        job.finish("b", "x" * 100_000)
    monkeypatch.undo()
    assert job.path.read_bytes() == before  # the old state, whole
    assert Job(tmp_path, "render", {"size": 64}).units == {"a": [1, 2]}
    jobs.write_json(tmp_path / "report.json", {"a": 1})
    assert json.loads((tmp_path / "report.json").read_text()) == {"a": 1}
    assert jobs.read_json(leftover) is None  # a half-written file reads as missing, not as data


def test_settings_key_is_stable_and_order_free():
    assert settings_key({"a": 1, "b": [1, 2]}) == settings_key({"b": [1, 2], "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2}) and len(settings_key({"a": 1})) == 16
