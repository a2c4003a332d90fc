"""Feature visualizations to show beside dataset examples: picked up from a render folder's
`results.json` (as `deepscope render` writes it), or rendered with `deepscope.render.render`."""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from deepscope.errors import DeepscopeError
from deepscope.models.vision_model import VisionModel

_OBJECTIVE = re.compile(r"^(channel|neuron)\((?P<layer>[^:]+):(?P<channel>\d+)(@[^)]*)?\)(#(?P<variant>\d+))?$")


def find_fv_images(model: VisionModel, layer: str, channels: Sequence[int], folder: str | Path) -> dict[int, Path]:
    """PNG per channel of `layer` listed in `folder/results.json` (channel objectives preferred over
    neuron ones, the first diversity variant); channels without one are left out."""
    folder = Path(folder)
    results = folder / "results.json"
    if not results.is_file():
        raise DeepscopeError(f"no results.json in {str(folder)!r}: give a folder written by `deepscope render`")
    try:
        entries = json.loads(results.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DeepscopeError(f"cannot read {results}: {err}") from err
    wanted, target = set(channels), model.resolve(layer)
    found: dict[int, tuple[tuple, Path]] = {}
    for entry in entries if isinstance(entries, list) else []:
        match = _OBJECTIVE.match(str(entry.get("objective", "")))
        if not match or model.aliases.get(match["layer"], match["layer"]) != target:
            continue
        chan, path = int(match["channel"]), folder / str(entry.get("image", ""))
        rank = (match[1] != "channel", int(match["variant"] or 0))
        if chan in wanted and path.is_file() and (chan not in found or rank < found[chan][0]):
            found[chan] = (rank, path)
    return {c: p for c, (_, p) in found.items()}


def render_fv(model: VisionModel, layer: str, channels: Sequence[int], folder: str | Path, *, size: int = 128,
              steps: int = 256, batch: int = 16, seed: int = 0, progress: bool = True) -> dict[int, Path]:
    """Render the channel objectives of `channels` missing from `folder` (a render folder), then pick
    them all up. Reruns render nothing new."""
    from deepscope.render import channel, render
    from deepscope.render.export import save_render, write_results

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    entries = json.loads(results.read_text()) if results.is_file() else []
    have = find_fv_images(model, layer, channels, folder) if entries else {}
    missing = [c for c in channels if c not in have]
    for n, start in enumerate(range(0, len(missing), batch)):
        part = missing[start:start + batch]
        result = render(model, [channel(layer, c) for c in part], size=size, steps=steps, seed=seed + start,
                        progress=progress)
        save_render(result, folder, sheet_name=f"contact_sheet_{part[0]}-{part[-1]}.png", append_to=entries)
        write_results(entries, folder)
    return find_fv_images(model, layer, channels, folder)
