"""`deepscope site`: precompute feature visualizations, dataset examples, atlases and saliency maps
of some layers (resumable) and write a static site; `deepscope serve SITE` shows it."""
from __future__ import annotations

from deepscope.cli.common import (
    MAX_GRID,
    add_model_args,
    count,
    given,
    number,
    parse_index_list,
    pixels,
    positive_int,
    seed,
)
from deepscope.cli.defaults import LAYOUTS, SITE_SALIENCY_METHODS
from deepscope.errors import DeepscopeError

# Options that go to SiteConfig as given (None: SiteConfig's default).
CONFIG_OPTIONS = ("limit", "fv_size", "fv_steps", "variants", "top", "atlas_grid", "atlas_positions", "atlas_layout",
                  "atlas_threshold", "icon_size", "icon_steps", "saliency_images", "sanity_images", "sanity_size",
                  "batch_size", "seed")


def add_parser(sub) -> None:
    p = sub.add_parser("site", help="build a browsable static site of a model's insides",
                       description="Each stage writes its outputs and a done-marker: a rerun skips finished stages "
                                   "and units. Defaults are small; every amount is an option.")
    add_model_args(p)
    p.add_argument("--images", default=None, help="image folder (default: views of the openly licensed photos "
                                                  "shipped with the installed dependencies)")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: two suggested layers)")
    p.add_argument("--out", default="deepscope-site", help="site folder")
    p.add_argument("--channels", default="0-7", help="units per layer, e.g. 0-15 or 0,4,9, or 'all' (default 0-7)")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N images")
    p.add_argument("--fv-size", type=pixels(16), default=None, help="feature visualization size in px")
    p.add_argument("--fv-steps", type=positive_int, default=None, help="optimization steps per feature visualization")
    p.add_argument("--variants", type=count, default=None, help="diverse variants per unit (0 or 1: none)")
    p.add_argument("--top", type=positive_int, default=None, help="dataset examples per unit")
    p.add_argument("--no-atlas", action="store_true", help="skip the activation atlases")
    p.add_argument("--atlas-grid", type=number(int, 1, MAX_GRID), default=None, help="atlas grid size g (g×g cells)")
    p.add_argument("--atlas-positions", type=positive_int, default=None,
                   help="activations sampled per image (default: chosen from the image set)")
    p.add_argument("--atlas-layout", choices=LAYOUTS, default=None)
    p.add_argument("--atlas-threshold", type=positive_int, default=None, help="activations a cell needs")
    p.add_argument("--icon-size", type=pixels(16, 512), default=None)
    p.add_argument("--icon-steps", type=positive_int, default=None)
    p.add_argument("--saliency-images", type=count, default=None, help="images on the saliency page (0: none)")
    p.add_argument("--saliency-methods", default=",".join(SITE_SALIENCY_METHODS))
    p.add_argument("--sanity-images", type=count, default=None, help="images for the sanity checks (0: none)")
    p.add_argument("--sanity-size", type=pixels(32), default=None, help="image size for the sanity checks")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--model-b", default=None, help="a second model: adds a model-diff page (see `deepscope diff`)")
    p.add_argument("--weights-b", default=None, help="state-dict file for the second model (default model: --model)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def config_from_args(args):
    from deepscope.app.config import SiteConfig
    from deepscope.attribution.methods import get_method

    methods = tuple(get_method(m.strip()).name for m in args.saliency_methods.split(",") if m.strip())
    if not methods:
        raise DeepscopeError("--saliency-methods names no method")
    channels = [] if args.channels.strip() == "all" else parse_index_list(args.channels, "channels")
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else []
    return SiteConfig(layers=layers, channels=channels, atlas=not args.no_atlas, saliency_methods=methods,
                      **given(args, CONFIG_OPTIONS))


def run(args) -> int:
    from deepscope.app import build_site
    from deepscope.cli.diff_cmd import models_from_args

    cfg = config_from_args(args)
    model, model_b = models_from_args(args)
    summary = build_site(model, args.out, cfg, images=args.images, progress=not args.no_progress,
                         model_b=model_b if model_b is not model else None)
    ran, skipped = len(summary["stages_run"]), len(summary["stages_skipped"])
    print(f"site for {', '.join(summary['layers'])} in {summary['site']} ({ran} stages run, {skipped} reused); "
          f"open {summary['site']}/index.html or run `deepscope serve {summary['site']}`")
    return 0
