"""A tiny site built once per test session (one layer, 3 units, 32 px renders, 20 images, tiny atlas)."""
from __future__ import annotations

from pathlib import Path

LAYER = "blocks.3"
CHANNELS = [0, 1, 2]
_BUILT: dict[str, Path] = {}


def tiny_config():
    from deepscope.app import SiteConfig

    return SiteConfig(layers=[LAYER], channels=CHANNELS, fv_size=32, fv_steps=6, variants=2, top=4, limit=20,
                      atlas_grid=4, atlas_positions=4, atlas_layout="pca", icon_size=24, icon_steps=4,
                      saliency_images=1, saliency_methods=("gradient", "grad-cam"), sanity_images=1, sanity_size=64,
                      batch_size=10)


def tiny_site(model, tmp_path_factory) -> Path:
    """Build the site on the default image set (first 20 views) once; later calls return the folder."""
    if "site" not in _BUILT:
        from deepscope.app import build_site

        site = tmp_path_factory.mktemp("tiny-site")
        build_site(model, site, tiny_config(), progress=False)
        _BUILT["site"] = site
    return _BUILT["site"]
