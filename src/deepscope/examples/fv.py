"""Feature visualizations to show beside dataset examples: picked up from a render folder's
`results.json` (as `deepscope render` writes it), or rendered into one by the render driver."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deepscope.errors import DeepscopeError
from deepscope.jobs import read_json
from deepscope.models.vision_model import VisionModel

FV_JOB = "fv"  # the driver's job name for these renders (state in `.fv-state.json`)
KINDS = ("channel", "neuron")  # in order of preference


def find_fv_images(model: VisionModel, layer: str, channels: Sequence[int], folder: str | Path) -> dict[int, Path]:
    """PNG per channel of `layer` listed in `folder/results.json` (channel objectives preferred over
    neuron ones, the first diversity variant); channels without one are left out."""
    folder = Path(folder)
    return _pick(model, layer, channels, folder, _read_entries(folder))


def _read_entries(folder: Path) -> list:
    results = folder / "results.json"
    if not results.is_file():
        raise DeepscopeError(f"no results.json in {str(folder)!r}: give a folder written by `deepscope render`")
    entries = read_json(results)
    if entries is None:
        raise DeepscopeError(f"cannot read {results}: it is not valid JSON; render into the folder again")
    return entries if isinstance(entries, list) else []


def _pick(model: VisionModel, layer: str, channels: Sequence[int], folder: Path, entries: list) -> dict[int, Path]:
    wanted, target = set(channels), model.resolve(layer)
    unnamed = _unstructured_names(model, layer, target, channels)
    found: dict[int, tuple[tuple, Path]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind, where, unit, variant = _target_of(entry, unnamed)
        if kind not in KINDS or unit not in wanted or model.aliases.get(where, where) != target:
            continue
        path, rank = folder / str(entry.get("image", "")), (KINDS.index(kind), variant or 0)
        if path.is_file() and (unit not in found or rank < found[unit][0]):
            found[unit] = (rank, path)
    return {c: p for c, (_, p) in found.items()}


def _target_of(entry: dict, unnamed: dict) -> tuple:
    """(kind, layer, unit, variant) from the entry's fields; entries written without them (by hand, or
    by older versions) are recognized by the exact name of a wanted channel's objective."""
    if entry.get("kind") is not None:
        unit = entry.get("unit")
        return entry["kind"], entry.get("layer"), unit if isinstance(unit, int) else None, entry.get("variant")
    name, _, variant = str(entry.get("objective", "")).partition("#")
    kind, where, unit = unnamed.get(name, (None, None, None))
    return kind, where, unit, int(variant) if variant.isdigit() else 0


def _unstructured_names(model: VisionModel, layer: str, target: str, channels: Sequence[int]) -> dict:
    from deepscope.render import channel, neuron

    names = {layer, target} | {alias for alias, real in model.aliases.items() if real == target}
    return {make(name, c).name: (kind, name, c) for kind, make in zip(KINDS, (channel, neuron))
            for name in names for c in channels}


def render_fv(model: VisionModel, layer: str, channels: Sequence[int], folder: str | Path, *, size: int = 128,
              steps: int = 256, batch: int = 16, seed: int = 0, progress: bool = True) -> dict[int, Path]:
    """Render the channel objectives of `channels` that `folder` (a render folder, perhaps of a
    `deepscope render` run) lacks, resumably, then pick them all up. Reruns render nothing new."""
    from deepscope.render import channel
    from deepscope.render.driver import RenderGroup, recorded_entries, render_to_folder

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = _read_entries(folder) if (folder / "results.json").is_file() else []
    if len(_pick(model, layer, channels, folder, entries)) == len(set(channels)):
        return find_fv_images(model, layer, channels, folder)
    ours = {e.get("image") for e in recorded_entries(folder, FV_JOB)}
    others = [e for e in entries if isinstance(e, dict) and e.get("image") not in ours]
    elsewhere = _pick(model, layer, channels, folder, others)
    missing = [c for c in channels if c not in elsewhere]  # the same list on every rerun: the job resumes
    group = RenderGroup(layer, [channel(layer, c) for c in missing], {"size": size, "steps": steps})
    render_to_folder(model, [group], folder, batch=batch, seed=seed, progress=progress, job=FV_JOB,
                     settings={"model": model.name})
    return find_fv_images(model, layer, channels, folder)
