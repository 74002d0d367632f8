"""Beyond one process: Dask execution and the resumable feature store.

Two ways past one process, both built on existing engines:

* **A Dask cluster** (``dask.distributed``): a feature transformer whose
  ``dask_client`` names a client (``"auto"``, the default, takes the active
  one) splits its clips into contiguous *shards* of ``shard_size`` clips and
  submits one task per shard. The fitted transformer travels once, as
  pickled bytes; each worker process unpickles it on its first shard and
  keeps it (models on its device) for every later shard and call, so an
  extractor is loaded once per worker, never once per task. Rows come back
  in input order, and failed files are handled by ``on_error`` exactly as in
  one process.
* **A feature store** (:func:`write_feature_store`): a folder of Parquet files,
  one per shard, written atomically as shards finish, with a
  ``_manifest.json`` describing the run. A killed run restarted with the same
  inputs and settings skips the finished shards; :func:`read_feature_store`
  gives back the matrix ``transform`` would have returned.

Nothing here imports dask or pyarrow until it is used (both are optional:
``pip install "sklearn-samplecnn[distributed]"``), nor the feature transformers:
any fitted transformer with the :class:`~sklearn_samplecnn.features._base.
ClipFeatureTransformer` interface works.
"""

from .cluster import client_address, resolve_client, transform_on_cluster
from .store import STORE_FORMAT, read_feature_store, write_feature_store

__all__ = ["STORE_FORMAT", "client_address", "read_feature_store", "resolve_client",
           "transform_on_cluster", "write_feature_store"]
