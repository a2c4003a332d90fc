"""`deepscope` command line: one sub-command per job."""
from __future__ import annotations

import argparse
import sys

from deepscope.cli import (
    atlas_cmd,
    examples_cmd,
    layers_cmd,
    map_cmd,
    occlusion_cmd,
    patch_cmd,
    render_cmd,
    saliency_cmd,
    sanity_cmd,
    serve_cmd,
    shape_bias_cmd,
    site_cmd,
)
from deepscope.errors import DeepscopeError

# Each module has `add_parser(subparsers)` that registers its sub-command with `func=run`.
COMMANDS = [render_cmd, layers_cmd, shape_bias_cmd, atlas_cmd]
COMMANDS += [examples_cmd, occlusion_cmd, map_cmd]  # dataset views
COMMANDS += [patch_cmd]  # probes
COMMANDS += [site_cmd, serve_cmd]  # site
COMMANDS += [saliency_cmd, sanity_cmd]  # attribution


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepscope", description="Look inside vision networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors print one line (no traceback) and exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DeepscopeError as err:
        print(f"deepscope {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"deepscope {args.command}: interrupted", file=sys.stderr)
        return 130

