"""Inline display in Jupyter: the pictures and tables behind the results' `_repr_png_` / `_repr_html_`.

Renders show a contact sheet, saliency maps their overlays, dataset examples their overview, an atlas
an HTML grid of its icons whose cells name their count and top classes on hover, a sanity report
its verdict table. Pictures are scaled down to `MAX_WIDTH` so that a notebook stays small.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepscope.data.images import to_uint8
from deepscope.viz.sheet import contact_sheet

MAX_WIDTH = 900  # px of a displayed picture
MAX_TILES = 64  # images of one contact sheet
TILE_RANGE = (64, 128)  # px of a contact sheet's tiles (images are shown at their size within it)
ATLAS_WIDTH = 640  # px of a displayed atlas grid
TD = 'style="padding:0;margin:0;border:none;line-height:0"'


def encoded(picture: Image.Image, max_width: int = MAX_WIDTH, format: str = "PNG") -> bytes:
    """The picture as PNG (or JPEG) bytes, scaled down to at most `max_width` pixels wide."""
    if picture.width > max_width:
        height = max(1, round(picture.height * max_width / picture.width))
        picture = picture.resize((max_width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format=format, optimize=True, **({"quality": 90} if format == "JPEG" else {}))
    return buffer.getvalue()


def png_bytes(picture: Image.Image, max_width: int = MAX_WIDTH) -> bytes:
    return encoded(picture, max_width)


def jpeg_uri(picture: Image.Image) -> str:
    """A data URI of the picture as a JPEG (a fraction of a PNG's size for photos and icons)."""
    return "data:image/jpeg;base64," + base64.b64encode(encoded(picture, format="JPEG")).decode("ascii")


def labelled_sheet(images, labels: list[str], columns: int | None = None) -> Image.Image:
    """A contact sheet of at most `MAX_TILES` images (3, H, W) in [0, 1], captioned."""
    images, labels = list(images)[:MAX_TILES], list(labels)[:MAX_TILES]
    tile = min(max(int(images[0].shape[-1]), TILE_RANGE[0]), TILE_RANGE[1])
    return contact_sheet(images, labels, columns=columns, tile=tile)


def render_png(result) -> bytes:
    """A `RenderResult` as one contact sheet, each image captioned with its objective."""
    labels = [result.label(i) for i in range(len(result.images))]
    columns = result.images_per_objective if result.images_per_objective > 1 else None
    return png_bytes(labelled_sheet(result.images, labels, columns))


def heatmaps_png(attribution) -> bytes:
    """An `Attribution`'s maps (sum of |attribution| over colours) as heat maps, one per image."""
    from deepscope.attribution.overlay import heatmap

    maps = attribution.map("abs").cpu()
    return png_bytes(labelled_sheet([heatmap(m) for m in maps], [attribution.method] * len(maps)))


def saliency_png(explained) -> bytes:
    """An `Explained` batch: per image a row with the image and each method's overlay."""
    from deepscope.attribution.overlay import overlay

    maps = {m: r.map("abs").cpu() for m, r in explained.results.items()}
    images, labels = [], []
    for i, image in enumerate(explained.images.cpu()[:MAX_TILES // (len(maps) + 1)]):
        top = int(explained.probs[i].argmax())
        name = explained.classes[top] if explained.classes else str(top)
        images += [image] + [overlay(image, m[i]) for m in maps.values()]
        labels += [f"{name} {float(explained.probs[i, top]):.2f}"] + list(maps)
    return png_bytes(labelled_sheet(images, labels, columns=len(maps) + 1))


def file_png(path: str | Path) -> bytes | None:
    """A PNG file for display (scaled down if wide), or None when it is missing."""
    path = Path(path)
    if not path.is_file():
        return None
    with Image.open(path) as picture:
        return png_bytes(picture.convert("RGB"))


def _cell_title(entry: dict) -> str:
    """Hover text of one atlas cell: position, count, top classes, icon score and fidelity."""
    x, y = entry["grid"]
    parts = [f"cell ({x}, {y})", f"{entry['count']} activations"]
    if entry.get("top_classes"):
        tops = ", ".join(f"{c['class']} ({c['attribution']:.3g})" for c in entry["top_classes"])
        parts.append(f"top class: {tops}")
    if "score" in entry:
        parts.append(f"icon score {entry['score']:.3g}")
    if "centre_cosine" in entry:
        parts.append(f"centre cosine {entry['centre_cosine']:.2f}")
    return " | ".join(parts)


def _cell_html(entry: dict, icon: torch.Tensor | None, shade: float, px: int) -> str:
    """An icon (or, without icons, a grey square darker with the count) whose title is the hover text."""
    title = html.escape(_cell_title(entry), quote=True)
    if icon is None:
        grey = round(235 - 175 * shade)
        return (f'<div title="{title}" style="width:{px}px;height:{px}px;'
                f'background:rgb({grey},{grey},{grey})"></div>')
    picture = Image.fromarray(to_uint8(icon).permute(1, 2, 0).numpy())
    picture = picture.resize((px, px), Image.Resampling.LANCZOS)
    return f'<img src="{jpeg_uri(picture)}" title="{title}" alt="{title}" width="{px}" height="{px}">'


def atlas_caption(atlas) -> str:
    grid, data = atlas.grid, atlas.data
    text = (f"{atlas.layer}: {len(grid)} cells of a {grid.size}x{grid.size} grid, {len(data)} activations "
            f"({int(grid.counts.sum())} in cells with at least {grid.threshold})")
    if atlas.fidelity:
        summary = atlas.fidelity["summary"]
        text += (f"; icon fidelity: median centre cosine {summary['median_cosine']:.2f}, "
                 f"{summary['fraction_beating_real']:.0%} beat their best real activation")
    return text + ". Hover a cell for its count and top classes."


def _grid_rows(atlas, cell_html: dict[tuple[int, int], str], px: int) -> list[str]:
    """Table rows of the grid, top row first (y up), then the column labels if any."""
    size = atlas.grid.size
    td = f'<td {TD} width="{px}" height="{px}">'
    rows = []
    for y in range(size - 1, -1, -1):
        cells = "".join(f'{td}{cell_html.get((x, y), "")}</td>' for x in range(size))
        rows.append(f'<tr style="background:white">{cells}</tr>')
    if atlas.column_labels:
        labels = "".join(f'<td style="font-size:9px;padding:1px;width:{px}px;overflow:hidden">'
                         f'{html.escape(label or "")}</td>' for label in atlas.column_labels)
        rows.append(f"<tr>{labels}</tr>")
    return rows


def atlas_html(atlas, top_classes: int = 3) -> str:
    """The atlas as an HTML table (y up), one cell per occupied grid position, each with a hover title."""
    px = max(12, min(64, ATLAS_WIDTH // atlas.grid.size))
    entries = atlas.cell_entries(top_classes=top_classes, sources=0)
    counts = np.asarray(atlas.grid.counts, dtype=np.float64)
    shades = np.sqrt(counts / max(counts.max(), 1.0))
    icons = atlas.icons.detach().float().cpu() if atlas.icons is not None else [None] * len(entries)
    cells = {tuple(e["grid"]): _cell_html(e, icon, s, px) for e, icon, s in zip(entries, icons, shades)}
    table = "".join(_grid_rows(atlas, cells, px))
    return (f'<div class="deepscope-atlas"><table style="border-collapse:collapse;border-spacing:0">{table}'
            f"</table><p>{html.escape(atlas_caption(atlas))}</p></div>")


LEFT = 'style="text-align:left"'


def _verdict_cell(passes: bool, words: str) -> str:
    mark, colour = ("&#10003;", "#1a7f37") if passes else ("&#10007;", "#cf222e")
    return f'<td {LEFT}><b style="color:{colour}">{mark}</b> {html.escape(words)}</td>'


def sanity_html(report: dict) -> str:
    """A sanity report's verdicts: one row per method (weights randomization, class sensitivity)."""
    rows = []
    for method, entry in report["methods"].items():
        rand, cls = entry["randomization"], entry["class_sensitivity"]
        rows.append(f'<tr><td {LEFT}><code style="white-space:nowrap">{html.escape(method)}</code></td>'
                    f"{_verdict_cell(rand['passes'], rand['verdict'])}"
                    f"{_verdict_cell(not cls['class_insensitive'], cls['verdict'])}</tr>")
    control = report["random_mask_control"]["max_abs_spearman"]
    caption = (f"Sanity checks of {html.escape(str(report['model']))} on {report['images']} images "
               f"(random-mask control: |rank correlation| at most {control:.2f})")
    names = ("method", "randomized weights", "random target class")
    head = "".join(f"<th {LEFT}>{name}</th>" for name in names)
    return (f'<table class="deepscope-sanity"><caption {LEFT}>{caption}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
