"""Run a callable over shards on a Dask cluster (``dask.distributed``).

:func:`map_shards` runs ``fn(shard)`` as one task per shard and yields the
results as they complete; ``fn`` travels once, as pickled bytes, and each
worker process unpickles it for its first shard and keeps it (a worker plugin,
:class:`~sklearn_samplecnn.distributed.plugin.KeepLoaded`), so a model inside
``fn`` is loaded once per worker, never once per task. :func:`resolve_client`
turns a ``dask_client`` setting into a client.

Nothing here knows what ``fn`` computes. The feature transformers use it for
``transform`` with a ``dask_client`` and for the feature store
(:func:`sklearn_samplecnn.features.write_feature_store`), handing over their
own shard function.

Nothing here imports dask until a cluster is used (it is optional:
``pip install "sklearn-samplecnn[distributed]"``).
"""

from .cluster import (
    INSTALL,
    client_address,
    map_shards,
    preload,
    resolve_client,
    shard_bounds,
    worker_loads,
)

__all__ = ["INSTALL", "client_address", "map_shards", "preload", "resolve_client",
           "shard_bounds", "worker_loads"]

# moved to sklearn_samplecnn.features (deprecated here)
_MOVED = {"read_feature_store": "sklearn_samplecnn.features",
          "write_feature_store": "sklearn_samplecnn.features",
          "STORE_FORMAT": "sklearn_samplecnn.features.store",
          "transform_on_cluster": "sklearn_samplecnn.features._base"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        from .._deprecate import warn_deprecated

        where = _MOVED[name]
        if name != "transform_on_cluster":  # that one warns when called
            warn_deprecated(f"sklearn_samplecnn.distributed.{name}", f"{where}.{name}")
        # resolved by name: the feature store lives on a higher floor than this package
        return getattr(importlib.import_module(where), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
