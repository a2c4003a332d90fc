"""`deepscope` command line: one sub-command per job.

The sub-command modules import only argparse and light modules at the top (their `run` imports
the library), so `deepscope --help` and `deepscope CMD --help` answer without loading torch.
"""
from __future__ import annotations

import importlib
import sys

from deepscope import memory
from deepscope.cli.common import Parser
from deepscope.errors import DeepscopeError

# Modules of deepscope.cli, in the order of `deepscope --help`; each has `add_parser(subparsers)`,
# which registers its sub-command with `func=run`. A new command is one more name here.
COMMANDS = [
    "render_cmd", "layers_cmd", "shape_bias_cmd", "atlas_cmd", "diff_cmd",
    "examples_cmd", "occlusion_cmd", "map_cmd",  # dataset views
    "patch_cmd", "multiuse_cmd",  # probes
    "site_cmd", "serve_cmd",  # site
    "saliency_cmd", "sanity_cmd", "evaluate_cmd",  # attribution
]


def build_parser(commands: list[str] | None = None) -> Parser:
    """The parser of every command (or of the modules `commands` only)."""
    parser = Parser(prog="deepscope", description="Look inside vision networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in commands or COMMANDS:
        importlib.import_module(f"deepscope.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors print one line (no traceback) and exit with status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    memory.tune()  # before torch is imported (deepscope.memory)
    named = f"{argv[0].replace('-', '_')}_cmd" if argv else ""
    try:  # `deepscope CMD ...` builds the parser of CMD alone
        args = build_parser([named] if named in COMMANDS else None).parse_args(argv)
    except SystemExit as stop:  # --help (0), or a bad option already named on stderr (2)
        return stop.code if isinstance(stop.code, int) else 2
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
