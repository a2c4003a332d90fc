"""Collecting activations: images -> sampled positions -> a sharded, resumable on-disk store."""
from deepscope.atlas.collection.run import collect
from deepscope.atlas.collection.store import ActivationStore, merge_stores, missing_shards, open_store

__all__ = ["ActivationStore", "collect", "merge_stores", "missing_shards", "open_store"]
