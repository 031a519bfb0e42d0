"""The Dask cluster that grades: a LocalCluster of worker processes, or an existing scheduler.

Each worker runs one submission at a time (one thread), so ``workers`` is the number of
notebooks executing at once. Workers on other machines need this repository installed (``pip
install -e .``) and, for the gradebook, a database server (PostgreSQL) or nothing at all (SQLite
results travel back to the coordinator).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster


def default_workers() -> int:
    """The machine's cores available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A Dask client: on ``scheduler`` (an address such as tcp://host:8786) or a LocalCluster.

    The local cluster has ``workers`` processes (default: the cores), one thread each, no memory
    limit (a notebook that trains a network needs a few GB; the kernel is a child process that
    Dask would not count anyway) and no dashboard.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
