"""Activation atlases (Carter et al. 2019): collect -> layout -> grid -> icons -> canvas.

    from deepscope.atlas import collect, build_atlas, class_atlas, compare_classes
    store = collect(model, "blocks.5", "images/", "store/", positions=4, attribution=True)
    build_atlas(model, store, grid=20).save("out/")
"""
from deepscope.atlas.build import Atlas, as_data, build_atlas
from deepscope.atlas.class_atlas import class_atlas, class_index, select_class
from deepscope.atlas.collection import ActivationStore, collect, merge_stores, missing_shards, open_store
from deepscope.atlas.compare import Comparison, ComparisonCell, attribution_axis, compare_classes
from deepscope.atlas.grid import Grid, bin_layout, whitening
from deepscope.atlas.icons import IconSettings, render_icons
from deepscope.atlas.layout import layout, normalize_layout
from deepscope.atlas.quality import coherence, icon_fidelity, label_clustering
from deepscope.atlas.request import AtlasRequest

__all__ = [
    "ActivationStore",
    "Atlas",
    "AtlasRequest",
    "Comparison",
    "ComparisonCell",
    "Grid",
    "IconSettings",
    "as_data",
    "attribution_axis",
    "bin_layout",
    "build_atlas",
    "class_atlas",
    "class_index",
    "coherence",
    "collect",
    "compare_classes",
    "icon_fidelity",
    "label_clustering",
    "layout",
    "merge_stores",
    "missing_shards",
    "normalize_layout",
    "open_store",
    "render_icons",
    "select_class",
    "whitening",
]
