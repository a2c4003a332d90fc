"""`deepscope site`: precompute feature visualizations, dataset examples, atlases and saliency maps
of some layers (resumable) and write a static site; `deepscope serve SITE` shows it."""
from __future__ import annotations

from deepscope.cli.common import add_model_args, model_from_args, parse_index_list
from deepscope.errors import DeepscopeError


def add_parser(sub) -> None:
    from deepscope.app.config import DEFAULT_SALIENCY_METHODS, SiteConfig

    d = SiteConfig()
    p = sub.add_parser("site", help="build a browsable static site of a model's insides",
                       description="Each stage writes its outputs and a done-marker: a rerun skips finished stages "
                                   "and units. Defaults are small; every amount is an option.")
    add_model_args(p)
    p.add_argument("--images", default=None, help="image folder (default: 30 views of 3 openly licensed photos "
                                                  "shipped with scikit-learn and Matplotlib)")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: two suggested layers)")
    p.add_argument("--out", default="deepscope-site", help="site folder")
    p.add_argument("--channels", default="0-7", help="units per layer, e.g. 0-15 or 0,4,9, or 'all' (default 0-7)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--fv-size", type=int, default=d.fv_size, help="feature visualization size in px")
    p.add_argument("--fv-steps", type=int, default=d.fv_steps, help="optimization steps per feature visualization")
    p.add_argument("--variants", type=int, default=d.variants, help="diverse variants per unit (0 or 1: none)")
    p.add_argument("--top", type=int, default=d.top, help="dataset examples per unit")
    p.add_argument("--no-atlas", action="store_true", help="skip the activation atlases")
    p.add_argument("--atlas-grid", type=int, default=d.atlas_grid, help="atlas grid size g (g×g cells)")
    p.add_argument("--atlas-positions", type=int, default=None,
                   help="activations sampled per image (default 1; 8 with the default image set)")
    p.add_argument("--atlas-layout", choices=("umap", "tsne", "pca"), default=d.atlas_layout)
    p.add_argument("--atlas-threshold", type=int, default=d.atlas_threshold, help="activations a cell needs")
    p.add_argument("--icon-size", type=int, default=d.icon_size)
    p.add_argument("--icon-steps", type=int, default=d.icon_steps)
    p.add_argument("--saliency-images", type=int, default=d.saliency_images, help="images on the saliency page (0: none)")
    p.add_argument("--saliency-methods", default=",".join(DEFAULT_SALIENCY_METHODS))
    p.add_argument("--sanity-images", type=int, default=d.sanity_images, help="images for the sanity checks (0: none)")
    p.add_argument("--sanity-size", type=int, default=d.sanity_size, help="image size for the sanity checks")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def config_from_args(args):
    from deepscope.app.config import SiteConfig
    from deepscope.attribution.methods import get_method

    minimums = {"fv_size": 16, "fv_steps": 1, "top": 1, "atlas_grid": 1, "icon_size": 16, "icon_steps": 1,
                "atlas_threshold": 1, "batch_size": 1, "sanity_size": 32}
    for name, low in minimums.items():
        if getattr(args, name) < low:
            raise DeepscopeError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(args, name)}")
    for name in ("variants", "saliency_images", "sanity_images"):
        if getattr(args, name) < 0:
            raise DeepscopeError(f"--{name.replace('_', '-')} must be 0 or more")
    if args.atlas_positions is not None and args.atlas_positions < 1:
        raise DeepscopeError("--atlas-positions must be at least 1")
    methods = tuple(get_method(m.strip()).name for m in args.saliency_methods.split(",") if m.strip())
    if not methods:
        raise DeepscopeError("--saliency-methods names no method")
    channels = [] if args.channels.strip() == "all" else parse_index_list(args.channels, "channels")
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else []
    return SiteConfig(layers=layers, channels=channels, fv_size=args.fv_size, fv_steps=args.fv_steps,
                      variants=args.variants, top=args.top, limit=args.limit, atlas=not args.no_atlas,
                      atlas_grid=args.atlas_grid, atlas_positions=args.atlas_positions, atlas_layout=args.atlas_layout,
                      atlas_threshold=args.atlas_threshold, icon_size=args.icon_size, icon_steps=args.icon_steps,
                      saliency_images=args.saliency_images, saliency_methods=methods,
                      sanity_images=args.sanity_images, sanity_size=args.sanity_size, seed=args.seed,
                      batch_size=args.batch_size)


def run(args) -> int:
    from deepscope.app import build_site

    cfg = config_from_args(args)
    model = model_from_args(args)
    summary = build_site(model, args.out, cfg, images=args.images, progress=not args.no_progress)
    ran, skipped = len(summary["stages_run"]), len(summary["stages_skipped"])
    print(f"site for {', '.join(summary['layers'])} in {summary['site']} ({ran} stages run, {skipped} reused); "
          f"open {summary['site']}/index.html or run `deepscope serve {summary['site']}`")
    return 0
