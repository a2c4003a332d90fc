"""Where things live inside a site folder; stable, linkable names (`layers/blocks.4/units/17.html`)."""
from __future__ import annotations

from pathlib import Path

from deepscope.render.export import slug

WORK = ".work"  # intermediate state (activation stores, checkpoints, default images)


def layer_slug(layer: str) -> str:
    return slug(layer)


def layer_dir(site: Path, layer: str) -> Path:
    return Path(site) / "layers" / layer_slug(layer)


def layer_data(site: Path, layer: str, what: str) -> Path:
    """`layers/<layer>/data/<what>.json`: one file per stage, read by the page writer."""
    return layer_dir(site, layer) / "data" / f"{what}.json"


def work_dir(site: Path, *parts: str) -> Path:
    return Path(site).joinpath(WORK, *parts)


def unit_page(layer: str, channel: int) -> str:
    """Site-relative URL of a unit's page."""
    return f"layers/{layer_slug(layer)}/units/{channel}.html"


def layer_page(layer: str) -> str:
    return f"layers/{layer_slug(layer)}/index.html"
