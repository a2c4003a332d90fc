"""`deepscope occlusion`: occlusion maps of one image (P(class), most likely label, a channel)."""
from __future__ import annotations

from deepscope.cli.common import add_model_args, count, fraction, model_from_args, pixels, positive_int
from deepscope.errors import DeepscopeError

MIN_INPUT = 32  # smallest network input (px): below it a stride-32 network sees one cell or less


def add_parser(sub) -> None:
    p = sub.add_parser("occlusion", help="occlusion maps: slide a grey square over an image (Zeiler & Fergus)",
                       description="Maps of P(class), the most likely label and (with --layer) a channel's "
                                   "activation as a grey square slides over the image. Maps are n x n with "
                                   "n = (input size - size) // stride + 1.")
    add_model_args(p)
    p.add_argument("--image", required=True, help="image file")
    p.add_argument("--size", type=pixels(1), default=48, help="side of the grey square in input pixels (default 48)")
    p.add_argument("--stride", type=pixels(1), default=8, help="step between square positions in pixels (default 8)")
    p.add_argument("--target", help="class name or index (default: the model's top-1 on the unoccluded image)")
    p.add_argument("--layer", help="layer for the activation map")
    p.add_argument("--channel", type=count, help="channel of --layer (default: its strongest on the unoccluded image)")
    p.add_argument("--fill", type=fraction, default=0.5, help="grey level of the square in [0, 1] (default 0.5)")
    p.add_argument("--input-size", type=pixels(MIN_INPUT), default=None, help="network input size (default: the model's)")
    p.add_argument("--batch", type=positive_int, default=32, help="occluded images per forward pass")
    p.add_argument("--out", default="deepscope-occlusion", help="output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from deepscope.data.images import load_image_resized
    from deepscope.examples.occlusion import occlusion_maps
    from deepscope.examples.occlusion_report import save_occlusion
    from deepscope.viz.output import prepare_output_dir

    if args.channel is not None and not args.layer:
        raise DeepscopeError("--channel needs --layer (the layer the channel belongs to)")
    out = prepare_output_dir(args.out)
    model = model_from_args(args)
    size = args.input_size or model.input_size
    image = load_image_resized(args.image, size)
    target = model.class_index(args.target) if args.target is not None else None
    if args.layer:
        model.resolve(args.layer)
    result = occlusion_maps(model, image, size=args.size, stride=args.stride, target=target, layer=args.layer,
                            channel=args.channel, fill=args.fill, batch_size=args.batch)
    report = save_occlusion(result, out, model.classes, str(args.image))
    t = report["target"]
    print(f"occlusion {args.size}px / stride {args.stride}px, {report['grid'][0]}x{report['grid'][1]} positions: "
          f"P({t['name']}) {report['clean']['p_target']:.3f} unoccluded, {report['p_target']['min']:.3f} at the "
          f"most damaging position; {out}/occlusion.png, occlusion.json, occlusion.npz")
    return 0
