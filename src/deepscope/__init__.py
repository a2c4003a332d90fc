"""deepscope: look inside vision networks.

The main entry points:
- `deepscope.models.load_model(name)` returns a `VisionModel` taking RGB in [0, 1].
- `deepscope.models.capture(model, layers)` records activations of named layers.
- `deepscope.render.render(model, objectives)` renders feature visualizations.
"""
from deepscope.errors import DeepscopeError

__version__ = "0.1.0"
__all__ = ["DeepscopeError", "__version__"]
