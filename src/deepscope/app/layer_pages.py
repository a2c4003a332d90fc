"""A layer's page (feature-visualization grid, atlas viewer) and one page per unit."""
from __future__ import annotations

from pathlib import Path

from deepscope.app.html import SiteInfo, embed_json, esc, write_page
from deepscope.app.paths import layer_page, unit_page
from deepscope.models.layout import LayerSpec


def layer_body(layer: str, spec: LayerSpec, fv: dict, atlas: dict | None, weights: dict) -> str:
    tiles = []
    for c, unit in fv["units"].items():
        tiles.append(f'<a class="tile unit" href="units/{esc(c)}.html"><img src="{esc(unit["image"])}" '
                     f'alt="unit {esc(c)}" loading="lazy"><div class="cap">unit {esc(c)}</div></a>')
    feeds = "Its units feed the logits (class weights on the unit pages)." if weights.get("feeds_logits") else ""
    intro = (f'<p class="muted">Output shape <code>{esc(tuple(spec.shape))}</code> ({esc(spec.describe())}); '
             f'{len(fv["units"])} units shown, each rendered at {fv["size"]} px for {fv["steps"]} steps. {feeds}</p>')
    parts = [intro, '<h2>Feature visualizations</h2>', f'<div class="grid fv-grid">{"".join(tiles)}</div>']
    parts.append("<h2>Activation atlas</h2>")
    parts.append(atlas_section(atlas) if atlas else f'<p class="muted">{no_atlas_note(spec)}</p>')
    return "\n".join(parts)


def no_atlas_note(spec: LayerSpec) -> str:
    if spec.kind == "vector":
        return ("No atlas for a vector layer: each image gives one activation vector, with no positions to lay "
                "out or receptive fields to crop; the unit pages show whole images.")
    return "No atlas for this layer (built with --no-atlas)."


def atlas_section(atlas: dict) -> str:
    data = {k: atlas[k] for k in ("grid", "tiles", "cells")}
    positions = f' ({atlas["positions"]} positions each)' if atlas.get("positions") else ""
    sized = " (sized to the activations)" if atlas.get("requested_grid") is None else ""
    note = (f'{atlas["activations"]} activations from {atlas["images"]} images{positions}, laid out with '
            f'{esc(atlas["layout"])}, spread so that the grid fills, and averaged in a {atlas["grid"]}×{atlas["grid"]} '
            f'grid{sized}: {len(atlas["cells"])} cells with at least {atlas["threshold"]} activations, one '
            f'{atlas["icon_size"]} px icon each.')
    return f"""<p class="muted">{note} Scroll to zoom, drag to pan, hover a cell for details, click to keep it.</p>
<div class="atlas-wrap">
 <div class="atlas-view">
  <div class="atlas-tools"><button id="atlas-zoom-in" type="button">+</button>
   <button id="atlas-zoom-out" type="button">&minus;</button><button id="atlas-reset" type="button">fit</button></div>
  <canvas id="atlas-canvas" data-base="atlas/" aria-label="activation atlas"></canvas>
 </div>
 <aside id="cell-details"></aside>
</div>
{embed_json("atlas-data", data)}"""


def unit_body(layer: str, c: int, fv: dict, examples: dict | None, weights: dict, neighbours) -> str:
    unit = fv["units"][str(c)]
    prev_c, next_c = neighbours
    pager = [f'<a href="../index.html">&larr; {esc(layer)}</a>']
    if prev_c is not None:
        pager.append(f'<a href="{prev_c}.html" rel="prev">unit {prev_c}</a>')
    if next_c is not None:
        pager.append(f'<a href="{next_c}.html" rel="next">unit {next_c}</a>')
    main = (f'<figure class="fv-main"><img src="../{esc(unit["image"])}" alt="feature visualization">'
            f'<figcaption class="muted">channel objective, score {unit["score"]:.3g}</figcaption></figure>')
    parts = [f'<div class="pager">{" ".join(pager)}</div>', '<div class="row">', main]
    if unit["variants"]:
        imgs = "".join(f'<img src="../{esc(v["image"])}" alt="variant {i}" title="score {v["score"]:.3g}">'
                       for i, v in enumerate(unit["variants"]))
        parts.append(f'<figure class="variants"><div>{imgs}</div><figcaption class="muted">diverse variants '
                     f'(channel + diversity)</figcaption></figure>')
    parts.append("</div>")
    parts.append(examples_section(c, examples))
    parts.append(weights_section(c, weights))
    return "\n".join(parts)


def examples_section(c: int, examples: dict | None) -> str:
    if not examples:
        return ""
    shown = examples["units"].get(str(c), [])
    tiles = "".join(f'<figure class="tile example"><img src="../{esc(e["crop"])}" alt="{esc(e["image"])}">'
                    f'<figcaption class="cap">#{e["rank"]} {esc(e["image"])}<br>max {e["score"]:.3g}</figcaption></figure>'
                    for e in shown)
    rf = examples["receptive_field"]
    how = ("the unit's value; each picture is the whole image" if examples.get("kind") == "vector" else
           f'the spatial max of the channel; each crop is the receptive field ({rf["size"]} px) of the strongest position')
    return (f'<h2>Top {len(shown)} dataset examples</h2><p class="muted">Out of {examples["images"]} images, ranked by '
            f'{how}.</p><div class="grid examples" style="--cell: 120px">{tiles}</div>')


def weights_section(c: int, weights: dict) -> str:
    entry = weights.get("units", {}).get(str(c))
    if not entry:
        return ""
    scale = max(abs(w["weight"]) for w in entry["positive"] + entry["negative"]) or 1.0

    def rows(items, cls):
        return "".join(f'<tr><td>{esc(w["class"])}</td><td class="mono">{w["weight"]:+.4f}</td><td class="bar">'
                       f'<div class="b {cls}" style="width:{100 * abs(w["weight"]) / scale:.1f}%"></div></td></tr>'
                       for w in items)
    return (f'<h2>Class weights</h2><p class="muted">This layer reaches the logits through global average pooling '
            f'and the final linear layer: the weights of unit {c} to each class.</p><div class="row weights">'
            f'<table><tr><th>most positive</th><th></th><th></th></tr>{rows(entry["positive"], "pos")}</table>'
            f'<table><tr><th>most negative</th><th></th><th></th></tr>{rows(entry["negative"], "neg")}</table></div>')


def write_layer_pages(site: Path, info: SiteInfo, layer: str, spec: LayerSpec, fv: dict, examples: dict | None,
                      atlas: dict | None, weights: dict) -> None:
    write_page(site, layer_page(layer), info, f"Layer {layer}", layer_body(layer, spec, fv, atlas, weights),
               scripts=["atlas.js"] if atlas else None)
    channels = [int(c) for c in fv["units"]]
    for i, c in enumerate(channels):
        neighbours = (channels[i - 1] if i else None, channels[i + 1] if i + 1 < len(channels) else None)
        write_page(site, unit_page(layer, c), info, f"{layer} unit {c}",
                   unit_body(layer, c, fv, examples, weights, neighbours))
