"""`deepscope shape-bias`: texture-vs-shape bias of a model, or of published decision files."""
from __future__ import annotations

from deepscope.cli.common import add_model_args, model_from_args, positive_int, print_skipped
from deepscope.errors import DeepscopeError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "shape-bias", help="texture-vs-shape bias (Geirhos et al. 2019) of a model or of decision files",
        description="With --stimuli: run the model on the cue-conflict images. With only --decisions: score "
                    "published decision files (humans and CNNs). Given both, the decision files are drawn "
                    "as reference.")
    add_model_args(p)
    p.add_argument("--stimuli", help="cue-conflict folder: <category>/<shape><k>-<texture><m>.png")
    p.add_argument("--edges", help="edge images folder: <category>/<category><k>.png (16-way accuracy)")
    p.add_argument("--silhouettes", help="silhouette images folder, same layout as --edges")
    p.add_argument("--decisions", nargs="+", metavar="CSV",
                   help="decision files (or folders of them) in the texture-vs-shape format")
    p.add_argument("--mapping", help="sixteen_class_mapping.json (default: the copy shipped with deepscope)")
    p.add_argument("--batch", type=positive_int, default=None, help="images per forward pass (default 4 on CPU, 64 on GPU)")
    p.add_argument("--out", default="deepscope-shape-bias", help="output folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def run(args) -> int:
    if not args.stimuli and not args.decisions:
        raise DeepscopeError("give --stimuli DIR (run a model) and/or --decisions CSV... (score decision files)")
    if (args.edges or args.silhouettes) and not args.stimuli:
        raise DeepscopeError("--edges/--silhouettes are measured together with --stimuli")
    from deepscope.probes.decisions import expand_paths, score_files
    from deepscope.probes.shape_run import measure_model, score_decision_files
    from deepscope.probes.sixteen import load_mapping
    from deepscope.probes.stimuli import find_cue_conflict, find_single_cue
    from deepscope.viz.output import prepare_output_dir

    mapping = load_mapping(args.mapping)
    observers = score_files(expand_paths(args.decisions), mapping.categories) if args.decisions else []
    if args.stimuli:
        stimuli = find_cue_conflict(args.stimuli, mapping.categories)
        edges = find_single_cue(args.edges, mapping.categories) if args.edges else []
        silhouettes = find_single_cue(args.silhouettes, mapping.categories) if args.silhouettes else []
    out = prepare_output_dir(args.out)
    for o in observers:
        extra = f"  (pooled {_pct(o.detail['pooled_shape_bias'])}, {len(o.files)} subjects)" if o.human else ""
        print(f"{o.label:<40} shape bias {_pct(o.shape_bias)}{extra}")
    if not args.stimuli:
        score_decision_files(observers, mapping.categories, out)
        print(f"wrote report.json and shape_bias.png to {out}")
        return 0
    model = model_from_args(args)
    report = measure_model(model, mapping, out, stimuli, edges=edges, silhouettes=silhouettes,
                           reference=observers, mapping_source=args.mapping or "packaged",
                           batch_size=args.batch, progress=not args.no_progress)
    print_skipped("shape-bias", report["skipped"], len(stimuli) + len(edges) + len(silhouettes), f"{out}/report.json")
    cc = report["cue_conflict"]
    bias = "n/a (no shape or texture decision)" if cc["shape_bias"] is None else f"{cc['shape_bias']:.3f}"
    print(f"{model.name}: shape bias {bias} ({cc['shape_hits']} shape / {cc['texture_hits']} texture "
          f"decisions of {cc['conflict_images']} conflict images; {report['seconds']} s)")
    for name in ("edges", "silhouettes"):
        if name in report:
            print(f"{model.name}: 16-way accuracy on {name} {_pct(report[name]['accuracy_16'])} "
                  f"({report[name]['images']} images)")
    print(f"wrote report.json, shape_bias.png and decisions CSVs to {out}")
    return 0
