"""The browsable site of a model's insides: `build_site` precomputes and writes static pages,
`make_server` serves them on 127.0.0.1 only.

    from deepscope.app import SiteConfig, build_site
    build_site(load_model(), "site/", SiteConfig(layers=["blocks.4"], channels=[0, 1, 2]))
"""
from deepscope.app.build import build_site
from deepscope.app.config import SiteConfig
from deepscope.app.server import make_server

__all__ = ["SiteConfig", "build_site", "make_server"]
