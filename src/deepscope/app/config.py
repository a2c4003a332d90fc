"""What a site shows and how much work goes into it; every field is a `deepscope site` option."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from deepscope.jobs import settings_key

DEFAULT_SALIENCY_METHODS = ("gradient", "guided-backprop", "grad-cam")


@dataclass
class SiteConfig:
    """Settings of a site build. Defaults keep a first build of the default image set under five minutes
    on two CPU cores (`app.costs` estimates each stage)."""

    layers: list[str] = field(default_factory=list)  # empty: two suggested layers
    channels: list[int] = field(default_factory=lambda: list(range(8)))  # per layer; empty: all
    fv_size: int = 80
    fv_steps: int = 96
    variants: int = 2  # diverse variants per unit (0: none)
    top: int = 9  # dataset examples per unit
    limit: int | None = None  # use only the first N images
    atlas: bool = True
    atlas_grid: int | None = None  # g (g×g cells); None: from the number of activations
    atlas_positions: int | None = None  # per image; None: from the number of images
    atlas_layout: str = "umap"  # umap (Carter et al.), tsne or pca (fastest)
    icon_size: int = 48
    icon_steps: int = 64
    saliency_images: int = 3
    saliency_methods: tuple[str, ...] = DEFAULT_SALIENCY_METHODS
    sanity_images: int = 2
    sanity_size: int = 112
    seed: int = 0
    batch_size: int = 16

    atlas_threshold: int = 5  # activations a cell needs (Carter et al.: 5-10)

    def key(self, *names: str) -> str:
        """A short hash of the named settings: a stage's output is reused only while they stay the same."""
        values = asdict(self)
        picked = {n: values[n] for n in names}
        return settings_key(picked)
