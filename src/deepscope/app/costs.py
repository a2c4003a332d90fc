"""What each stage of a site build is expected to cost, in seconds on two quiet CPU cores, from its settings.

Per-item costs of EfficientNet-Lite0 on two quiet cores (the quiet default-style build in docs/site.md:
7.5-9 ms per 96-px render step, 20-26 ms per image of a top-k pass; the rest measured on one thread
and scaled by the same ratio). The progress lines scale them by the speed the finished stages
actually ran at, so other models, machines and loads correct themselves after the first stages.
"""
from __future__ import annotations

from deepscope.app.atlas_stage import site_atlas_size
from deepscope.app.config import SiteConfig
from deepscope.atlas.request import FILLED
from deepscope.models.layout import LayerSpec

FV_STEP = 0.0085  # one render step of one image at 96 px
ICON_STEP = 0.003  # one step of one icon at 48 px
EXAMPLE = 0.023  # one image through the network, for the top-k pass
ACTIVATION = 0.01  # one collected activation with its class attribution (17 ms at blocks.3, 3.4 at blocks.6)
LAYOUT = 8.0  # UMAP of about a thousand activations (numba compiles on the first)
SALIENCY = 0.1  # one image explained by one method
SANITY = 1.2  # one image at 112 px through the cascading randomization of every method
FIXED = {"overview": 1.0, "fv": 2.0, "examples": 2.0, "weights": 0.1, "atlas": 3.0, "saliency": 1.0,
         "sanity": 2.0, "pages": 1.0}


def stage_costs(cfg: SiteConfig, specs: dict[str, LayerSpec], images: int) -> dict[str, float]:
    """{stage name: expected seconds} for every stage of the build, in order."""
    costs = {"overview": FIXED["overview"]}
    for layer, spec in specs.items():
        units = len(cfg.channels) if cfg.channels else spec.channels
        renders = units * (1 + (cfg.variants if cfg.variants >= 2 else 0))
        costs[f"fv/{layer}"] = FIXED["fv"] + renders * cfg.fv_steps * FV_STEP * (cfg.fv_size / 96) ** 2
        costs[f"examples/{layer}"] = FIXED["examples"] + images * EXAMPLE
        costs[f"weights/{layer}"] = FIXED["weights"]
        costs[f"atlas/{layer}"] = atlas_cost(cfg, spec, images) if cfg.atlas and spec.spatial else 0.0
    costs["saliency"] = FIXED["saliency"] + cfg.saliency_images * len(cfg.saliency_methods) * SALIENCY
    costs["sanity"] = FIXED["sanity"] + cfg.sanity_images * SANITY * (cfg.sanity_size / 112) ** 2
    costs["pages"] = FIXED["pages"]
    return costs


def atlas_cost(cfg: SiteConfig, spec: LayerSpec, images: int) -> float:
    """Collection, layout and icons of a layer's atlas."""
    positions, grid = site_atlas_size(cfg, spec, images)
    icons = FILLED * grid * grid
    return (FIXED["atlas"] + images * positions * ACTIVATION + LAYOUT
            + icons * cfg.icon_steps * ICON_STEP * (cfg.icon_size / 48) ** 2)
