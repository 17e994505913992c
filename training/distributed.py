"""Training work as Dask tasks on an existing cluster (``abscopal train --scheduler ADDRESS``).

Bootstrap members (models/ensemble.py), cross-validation fits (training/job.py) and benchmark
replicates are joblib ``Parallel`` loops. Inside ``on_cluster(address)`` joblib's Dask backend
sends their items to the cluster as tasks; without an address they run locally as before. Every
item carries its own seed (drawn before dispatch), so where it runs does not change its result:
``tests/training/test_distributed.py`` checks a LocalCluster of worker processes against a local
run. Same conventions as ``abscopal features --scheduler`` (features/pipeline.py): an address
opens a client for the duration of the job; a caller may pass its own ``client`` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import joblib


@contextlib.contextmanager
def on_cluster(scheduler: str | None = None, client: Any = None) -> Iterator[Any]:
    """joblib loops inside run on the Dask cluster at ``scheduler`` (or ``client``'s); with
    neither, nothing changes (local work, as without Dask). Yields the client or None."""
    if scheduler is None and client is None:
        yield None
        return
    own = None
    if client is None:
        from dask.distributed import Client

        client = own = Client(scheduler)
    try:
        with joblib.parallel_config(backend="dask", client=client):
            yield client
    finally:
        if own is not None:
            own.close()

