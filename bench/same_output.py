"""Same seed, same output: digests of a small render and a small atlas, to compare two versions.

    python bench/same_output.py                       # print the digests of this checkout
    python bench/same_output.py --write FILE          # write them (tests/data/same_output.json)
    python bench/same_output.py --against REV         # this checkout vs. git revision REV, side by side

The render is `deepscope render --layer blocks.4 --channels 0-7 --size 64 --steps 32 --seed 0`; the
atlas a 4x4 PCA atlas of `blocks.4` over 12 views of the embedded sample photos (attribution on).
Digests are SHA-256 of every PNG's bytes and of the `cells` of `atlas.json`; floating-point results
depend on the thread count and the CPU's vector unit, so both are recorded with the digests.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAME_PHOTOS = ("china", "flower", "grace_hopper")  # the photos the digests were first recorded on
RENDER = ["render", "--layer", "blocks.4", "--channels", "0-7", "--size", "64", "--steps", "32", "--seed", "0"]
ATLAS = ["atlas", "--layer", "blocks.4", "--grid", "4", "--positions", "4", "--layout", "pca", "--threshold", "2",
         "--icon-size", "32", "--steps", "16", "--attempts", "1"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _png_digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p.read_bytes()) for p in sorted(folder.rglob("*.png"))}


def environment() -> dict:
    import torch

    return {"torch": torch.__version__.split("+")[0], "threads": torch.get_num_threads(),
            "cpu": torch.backends.cpu.get_cpu_capability()}


def digests(work: Path) -> dict:
    """Run the render and the atlas in `work` (in this process) and digest what they wrote."""
    from deepscope.app.default_images import write_default_images
    from deepscope.cli import main

    images = write_default_images(work / "images", views=4, photos=SAME_PHOTOS)
    render_out, atlas_out = work / "render", work / "atlas"
    with contextlib.redirect_stdout(io.StringIO()):
        for argv in (RENDER + ["--out", str(render_out)],
                     ATLAS + ["--images", str(images), "--out", str(atlas_out)]):
            code = main(argv + ["--no-progress"])
            if code != 0:
                raise SystemExit(f"deepscope {' '.join(argv)} exited {code}")
    cells = json.loads((atlas_out / "atlas.json").read_text())["cells"]
    results = json.loads((render_out / "results.json").read_text())
    return {"environment": environment(),
            "render": {"png": _png_digests(render_out),
                       "results": [[e["objective"], round(e["score"], 4), e["image"]] for e in results]},
            "atlas": {"png": _png_digests(atlas_out), "cells": _sha(json.dumps(cells, sort_keys=True).encode()),
                      "num_cells": len(cells)}}


def _at_revision(rev: str, threads: int) -> dict:
    """The digests of git revision `rev`, computed in a temporary worktree by a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
        try:
            code = (f"import sys, json, torch; torch.set_num_threads({threads}); sys.path.insert(0, {str(tree / 'src')!r});"
                    f"sys.path.insert(0, {str(REPO / 'bench')!r}); import same_output, pathlib;"
                    f"print(json.dumps(same_output.digests(pathlib.Path({tmp!r}))))")
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                 cwd=tmp).stdout
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    return json.loads(out.strip().splitlines()[-1])


def compare(a: dict, b: dict) -> list[str]:
    """The differences between two digest records, in words (empty when they match)."""
    diffs = []
    for part in ("render", "atlas"):
        for key in sorted(set(a[part]) | set(b[part])):
            if a[part].get(key) != b[part].get(key):
                diffs.append(f"{part}.{key} differs")
    return diffs


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="write the digests to this JSON file")
    parser.add_argument("--against", metavar="REV", help="compare with git revision REV")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        now = digests(Path(tmp))
    if args.write:
        Path(args.write).write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    if args.against:
        before = _at_revision(args.against, args.threads)
        diffs = compare(before, now)
        print("same output as " + args.against if not diffs else "\n".join(diffs))
        return 1 if diffs else 0
    print(json.dumps(now, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
