"""Where the image passes run: in this process (the default, no Ray imported) or over a Ray cluster
(`--engine ray`): one actor per worker holding the model, one task per shard range (docs/scale.md)."""
from deepscope.distributed.engine import ENGINES, ModelSpec, RayEngine, open_engine, require_ray
from deepscope.distributed.shards import drop_shards, map_shards, split_ranges

__all__ = ["ENGINES", "ModelSpec", "RayEngine", "drop_shards", "map_shards", "open_engine", "require_ray", "split_ranges"]
