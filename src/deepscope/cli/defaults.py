"""Names and default values the command line shows in its help, readable without importing torch.

Each mirrors a value of the library (the request objects, registries and configs, which import
torch); tests/test_cli.py checks every one against its source, so the help never drifts. The
commands pass only the options a user gave, so a request object's own defaults decide the rest.
"""
from __future__ import annotations

DEFAULT_MODEL = "efficientnet_lite0"  # deepscope.models.DEFAULT_MODEL
OFFLINE_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "digits_vit", "digits_cnn")

PARAMS = ("fft", "maco", "pixel")  # deepscope.render.param.PARAMS
TRANSFORM_SETS = ("icon", "none", "standard", "strong")  # deepscope.render.transforms.TRANSFORM_SETS
RENDER = {"diversity_weight": 100.0, "param": "fft", "steps": 256, "attempts": 1, "batch": 16, "seed": 0}

ATLAS = {"margin": 1, "layout": "umap", "layout_fit": 30000, "steps": 512, "attempts": 2, "power": 4.0,
         "icon_batch": 32, "batch_size": 16, "seed": 0}  # deepscope.atlas.request.AtlasRequest
ATLAS_SIZES = {"layer": (20, 5), "class": (8, 4), "compare": (10, 4)}  # (grid, threshold) per atlas kind
LAYOUTS = ("umap", "tsne", "pca")  # deepscope.atlas.layout
MAP_METHODS = ("tsne", "umap")  # deepscope.examples.grid_layout.METHODS

SALIENCY_METHODS = ("gradient", "gradient-x-input", "smoothgrad", "integrated-gradients", "guided-backprop",
                    "deconvnet", "grad-cam", "guided-grad-cam", "occlusion", "attention-rollout")
SALIENCY_DEFAULT = "gradient"  # deepscope.attribution.report.DEFAULT_METHOD
SALIENCY_BATCH = 8  # deepscope.attribution.methods.DEFAULT_BATCH
SALIENCY_MIN_SIZE = 32  # deepscope.attribution.report.MIN_SIZE
SMOOTHGRAD = {"samples": 25, "noise": 0.15}
INTEGRATED_GRADIENTS = {"steps": 32}
SANITY = {"methods": ("gradient", "gradient-x-input", "guided-backprop", "deconvnet", "grad-cam",
                      "guided-grad-cam"), "images": 16, "seed": 0, "randomization_threshold": 0.5}

PATCH = {"pairs": 3, "screen": 48, "ratios": (0.2, 0.4, 0.7), "size": 128, "steps": 256, "batch": 8,
         "seed": 0}  # deepscope.probes.patch_request.PatchRequest

MULTIUSE = {"top": 10, "classes": 3, "top_positions": 64, "threshold": 5, "unrelated": 0.1, "holdout": 0.5,
            "test_images": 100, "margin": 0.1, "size": 128, "steps": 256}  # deepscope.probes.multiuse.MultiuseRequest

SITE_SALIENCY_METHODS = ("gradient", "guided-backprop", "grad-cam")  # deepscope.app.config.DEFAULT_SALIENCY_METHODS
