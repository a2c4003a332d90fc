"""CLIP image towers through open_clip (when it is installed): `open_clip:ARCH` or `open_clip:ARCH:TAG`.

`ARCH` is an open_clip model name (e.g. `ViT-B-32`), `TAG` its pretrained weights (e.g.
`laion2b_s34b_b79k`; the first listed tag when left out). The tower outputs the image embedding;
its position embeddings are fixed, so it takes its own input size only.
"""
from __future__ import annotations

from deepscope.errors import DeepscopeError, unknown_name_error
from deepscope.models.timm_models import Architecture

PREFIX = "open_clip:"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def is_open_clip_name(name: str) -> bool:
    return name.startswith(PREFIX)


def _import_open_clip():
    try:
        import open_clip
    except ImportError as err:
        raise DeepscopeError(
            "open_clip models need the open_clip package: pip install open_clip_torch "
            "(or use one of timm's CLIP image towers, e.g. vit_base_patch16_clip_224)") from err
    return open_clip


def build_open_clip(name: str, fetch: bool) -> Architecture:
    """The image tower (`model.visual`) of the open_clip model `name`, with its preprocessing."""
    open_clip = _import_open_clip()
    arch, _, tag = name[len(PREFIX):].partition(":")
    if arch not in open_clip.list_models():
        raise unknown_name_error("open_clip model", arch, open_clip.list_models(), "open_clip.list_models()")
    if fetch and not tag:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if not tags:
            raise DeepscopeError(f"open_clip has no pretrained weights for {arch!r}; use --no-pretrained")
        tag = tags[0]
    visual = open_clip.create_model(arch, pretrained=tag if fetch else None).visual
    cfg = getattr(visual, "preprocess_cfg", None) or {}
    size = visual.image_size if hasattr(visual, "image_size") else cfg.get("size", 224)
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    return Architecture(visual, tuple(cfg.get("mean", OPENAI_MEAN)), tuple(cfg.get("std", OPENAI_STD)), size, size)
