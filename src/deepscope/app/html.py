"""Writing pages: the shared template (templates/page.html), escaping, embedded JSON, assets."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

from deepscope.app.paths import layer_page
from deepscope.viz.output import write_atomic

ASSETS = ("site.css", "atlas.js")


def esc(value) -> str:
    return escape(str(value), quote=True)


def embed_json(element_id: str, data) -> str:
    """Data for a page's script, inline (works from file:// too); `</` cannot close the tag."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


@dataclass
class SiteInfo:
    """What every page's header needs: the model, the layers, which extra pages exist."""

    model: str
    layers: list[str]
    extra_pages: list[tuple[str, str]] = field(default_factory=list)  # (site-relative URL, label)


def copy_assets(site: Path) -> None:
    folder = Path(site) / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    static = resources.files("deepscope.app") / "static"
    for name in ASSETS:
        with resources.as_file(static / name) as src:
            shutil.copyfile(src, folder / name)


def write_page(site: Path, url: str, info: SiteInfo, title: str, body: str, *, heading: str | None = None,
               scripts: list[str] | None = None) -> Path:
    """Write the page at site-relative `url` with the shared header and navigation."""
    depth = url.count("/")
    root = "../" * depth
    links = [("index.html", "Overview")] + [(layer_page(name), name) for name in info.layers] + info.extra_pages
    nav = " ".join(f'<a href="{esc(root + href)}">{esc(label)}</a>' for href, label in links)
    script_tags = "\n".join(f'<script src="{esc(root)}assets/{esc(s)}"></script>' for s in scripts or [])
    template = Template((resources.files("deepscope.app") / "templates" / "page.html").read_text())
    page = template.substitute(title=esc(title), heading=esc(heading or title), root=esc(root), model=esc(info.model),
                               nav=nav, body=body, scripts=script_tags)
    path = Path(site) / url
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, page)
    return path
