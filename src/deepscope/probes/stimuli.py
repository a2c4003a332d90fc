"""Find and check the texture-vs-shape stimulus folders (cue-conflict, edges, silhouettes)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from deepscope.data.images import IMAGE_EXTENSIONS
from deepscope.errors import DeepscopeError

CUE_CONFLICT_LAYOUT = ("one folder per category (airplane/, bear/, ... truck/), each holding cue-conflict "
                       "images named <shape><k>-<texture><m>.png, e.g. cat/cat1-elephant2.png "
                       "(the layout of rgeirhos/texture-vs-shape stimuli/style-transfer-preprocessed-512)")
SINGLE_CUE_LAYOUT = ("one folder per category (airplane/, bear/, ... truck/), each holding images named "
                     "<category><k>.png, e.g. cat/cat3.png (the layout of the edges and filled-silhouettes sets)")
_NAME = re.compile(r"^([a-z]+)\d+-([a-z]+)\d+$")


@dataclass(frozen=True)
class Stimulus:
    """One image with its shape category and its texture category (equal for single-cue images)."""

    path: Path
    shape: str
    texture: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def conflict(self) -> bool:
        return self.shape != self.texture


def parse_cue_conflict_name(filename: str) -> tuple[str, str] | None:
    """`cat1-elephant2.png` -> ('cat', 'elephant'); also accepts the decision files' long names
    (`0001_s5n_dnn_0_airplane_00_airplane1-bicycle2.png`); None when the name does not fit."""
    stem = Path(filename).stem.rsplit("_", 1)[-1]
    match = _NAME.match(stem)
    return (match.group(1), match.group(2)) if match else None


def _layout_error(root: Path, problem: str, layout: str) -> DeepscopeError:
    hint = ""
    for sub in ("stimuli", "style-transfer-preprocessed-512", "cue-conflict"):
        if (root / sub).is_dir():
            hint = f"; did you mean {root / sub}?"
            break
    return DeepscopeError(f"{root}: {problem}. Expected {layout}{hint}")


def _category_files(root: Path, categories, layout: str) -> dict[str, list[Path]]:
    if not root.is_dir():
        raise DeepscopeError(f"stimulus folder {str(root)!r} does not exist. Expected {layout}")
    folders = {p.name: p for p in root.iterdir() if p.is_dir()}
    found = {c: sorted(p for p in folders[c].iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
             for c in categories if c in folders}
    found = {c: files for c, files in found.items() if files}
    if not found:
        raise _layout_error(root, "no category folder with images", layout)
    return found


def find_cue_conflict(folder: str | os.PathLike, categories) -> list[Stimulus]:
    """Every cue-conflict image under `folder` (shape = its category folder); clear errors otherwise."""
    root = Path(folder)
    stimuli, bad = [], []
    for category, files in _category_files(root, categories, CUE_CONFLICT_LAYOUT).items():
        for path in files:
            parsed = parse_cue_conflict_name(path.name)
            if parsed is None or parsed[0] != category or parsed[1] not in categories:
                bad.append(f"{category}/{path.name}")
                continue
            stimuli.append(Stimulus(path, *parsed))
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise _layout_error(root, f"{len(bad)} image(s) do not fit the cue-conflict naming ({shown})",
                            CUE_CONFLICT_LAYOUT)
    return stimuli


def find_single_cue(folder: str | os.PathLike, categories) -> list[Stimulus]:
    """Every image of an edge or silhouette set; the label is the category folder."""
    root = Path(folder)
    found = _category_files(root, categories, SINGLE_CUE_LAYOUT)
    conflict_named = [p for files in found.values() for p in files if parse_cue_conflict_name(p.name)]
    if conflict_named:
        raise _layout_error(root, f"{conflict_named[0].name} looks like a cue-conflict image, not a single-cue "
                            "one (pass cue-conflict images with --stimuli)", SINGLE_CUE_LAYOUT)
    return [Stimulus(p, c, c) for c, files in found.items() for p in files]
