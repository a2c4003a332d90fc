"""The overview page (model, layers with shapes) and the saliency and sanity-check pages."""
from __future__ import annotations

from pathlib import Path

from deepscope.app.html import SiteInfo, esc, write_page
from deepscope.app.paths import layer_page
from deepscope.app.saliency_stage import faithfulness_html


def overview_body(model: dict) -> str:
    site_rows = "".join(
        f'<tr><td><a class="layer-link" href="{esc(layer_page(row["name"]))}">{esc(row["name"])}</a></td>'
        f'<td>{esc(row["kind"])}</td><td class="mono">{esc(tuple(row["shape"]) if row["shape"] else "")}</td></tr>'
        for row in model["layers"] if row["in_site"])
    all_rows = "".join(
        f'<tr class="{"in-site" if row["in_site"] else ""}"><td class="mono">{esc(row["name"])}</td>'
        f'<td>{esc(row["kind"])}</td><td class="mono">{esc(tuple(row["shape"]) if row["shape"] else "-")}</td></tr>'
        for row in model["layers"])
    images = model.get("images", {})
    image_note = (f'<p class="muted">Images: {images.get("count", "?")} from <code>{esc(images.get("source", ""))}</code>.'
                  f'</p>' + credits_table(images.get("credits", [])))
    extras = "".join(f'<li><a href="{esc(url)}">{esc(label)}</a></li>' for url, label in model.get("pages", []))
    return f"""<p>Input {model["input_size"]} px{f', {model["classes"]} classes' if model["classes"] else ''}.
Pick a layer to see its units' feature visualizations and its activation atlas.</p>
<h2>Layers in this site</h2>
<table class="site-layers"><tr><th>layer</th><th>kind</th><th>output shape</th></tr>{site_rows}</table>
{f'<h2>Attribution</h2><ul>{extras}</ul>' if extras else ''}
<h2>All layers</h2>
<details><summary>{len(model["layers"])} modules with output shapes (one forward pass)</summary>
<table class="all-layers"><tr><th>name</th><th>kind</th><th>output shape</th></tr>{all_rows}</table></details>
<h2>About these images</h2>{image_note}"""


def credits_table(credits: list[dict]) -> str:
    """The default set's photos with their source, licence and credit (empty for a user's folder)."""
    if not credits:
        return ""
    rows = "".join(f'<tr><td class="mono">{esc(c["photo"])}</td><td>{esc(c.get("package", ""))}</td>'
                   f'<td>{esc(c["credit"])}</td><td>{esc(c["licence"])}</td></tr>' for c in credits)
    return (f'<p class="muted">The default image set: views of the {len(credits)} photos that ship inside the '
            f'installed scikit-image, scikit-learn and Matplotlib (read from the packages, never downloaded); a '
            f'unit keeps at most two dataset examples of one photo.</p><table class="credits"><tr><th>photo</th>'
            f'<th>shipped with</th><th>source</th><th>licence</th></tr>{rows}</table>')


def saliency_body(saliency: dict) -> str:
    rows = []
    for row in saliency["images"]:
        target = row.get("target", {})
        figures = [(f'<figure class="tile"><img src="{esc(row["picture"])}" alt="{esc(row["image"])}">'
                    f'<figcaption class="cap">{esc(row["image"])}</figcaption></figure>')]
        figures += [f'<figure class="tile"><img src="{esc(m["picture"])}" alt="{esc(m["method"])}">'
                    f'<figcaption class="cap">{esc(m["method"])}</figcaption></figure>' for m in row["maps"]]
        rows.append(f'<h2>{esc(row["image"])} <span class="muted">explaining '
                    f'“{esc(target.get("class", "?"))}” (top-1)</span></h2><div class="grid" style="--cell: 180px">'
                    f'{"".join(figures)}</div>')
    return ('<p class="muted">|attribution| summed over colour channels, over the greyed image. Are these maps '
            'about the model? See the <a href="sanity.html">sanity checks</a>.</p>' + "".join(rows))


def sanity_body(report: dict) -> str:
    rows = []
    for method, entry in report["methods"].items():
        passes = entry["randomization"]["passes"]
        insensitive = entry["class_sensitivity"]["class_insensitive"]
        rows.append(f'<tr><td class="mono">{esc(method)}</td>'
                    f'<td class="{"verdict-pass" if passes else "verdict-fail"}">{esc(entry["randomization"]["verdict"])}</td>'
                    f'<td class="{"verdict-fail" if insensitive else "verdict-pass"}">'
                    f'{esc(entry["class_sensitivity"]["verdict"])}</td></tr>')
    return (f'<p class="muted">Cascading randomization (Adebayo et al. 2018) and class sensitivity (Nie et al. 2018) on '
            f'{report["images"]} images at {report["size"][0]} px. A method that barely changes when the weights are '
            f'randomized reconstructs the image rather than explaining the model.</p>'
            f'<table class="verdicts"><tr><th>method</th><th>model randomization</th><th>target class</th></tr>'
            f'{"".join(rows)}</table><h2>Similarity to the trained model\'s maps</h2>'
            f'<img class="sheet" src="sanity/cascade.png" alt="cascading randomization">'
            f'<h2>Class sensitivity</h2><img class="sheet" src="sanity/class_sensitivity.png" alt="class sensitivity">'
            + faithfulness_html(report.get("faithfulness")))


def write_site_pages(site: Path, info: SiteInfo, model: dict, saliency: dict | None, sanity: dict | None) -> None:
    write_page(site, "index.html", info, f"{model['model']}: overview", overview_body(model))
    if saliency:
        write_page(site, "saliency.html", info, "Saliency maps", saliency_body(saliency))
    if sanity:
        write_page(site, "sanity.html", info, "Sanity checks of saliency maps", sanity_body(sanity))
