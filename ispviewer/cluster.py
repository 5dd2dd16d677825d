"""Independent tasks on a Dask distributed cluster: connect, keep a bounded window in flight, retry, cancel.

The calling process stays the only writer: a task returns a value, :func:`run_tasks` yields each
outcome as it completes and the caller stores it. Dask is optional (``pip install
'ispviewer[distributed]'``) and imported only when a cluster is asked for.

Addresses: ``tcp://host:8786`` (a running ``dask scheduler``), or ``local`` / ``local:N`` for a
throwaway cluster of N worker processes on this machine (handy to try it, and for benchmarks).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class ClusterError(Exception):
    """The cluster cannot be used (Dask missing, scheduler unreachable, bad address)."""


@dataclass(frozen=True)
class TaskOutcome:
    """One task's end: ``value`` when it returned, ``error`` when it raised after its retries or its worker died."""

    item: Any
    value: Any = None
    error: str | None = None


def _client_classes():
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--scheduler needs Dask distributed: pip install 'ispviewer[distributed]'") from None
    return Client, LocalCluster


def _local_workers(address: str) -> int:
    count = address.partition(":")[2]
    if not count:
        return max(1, os.cpu_count() or 1)
    if not count.isdigit() or int(count) < 1:
        raise ClusterError(f"bad scheduler address {address!r}: use local:N with N >= 1 workers")
    return int(count)


@contextmanager
def connect(address: str, *, timeout: float = 10.0) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``address``, closed (with any local cluster) on exit."""
    Client, LocalCluster = _client_classes()
    cluster = None
    if address == "local" or address.startswith("local:"):
        cluster = LocalCluster(n_workers=_local_workers(address), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {first}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def describe_failure(exc: BaseException) -> str:
    """One line for a task that failed on the cluster (after its retries)."""
    name = type(exc).__name__
    if name == "KilledWorker":
        return "a worker died while running it, on every try (KilledWorker)"
    if name == "CancelledError":
        return "cancelled on the cluster"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}: {text}" if text else name


def in_flight_limit(client) -> int:
    """Two tasks per worker thread the scheduler knows now (at least 2): busy workers, bounded memory."""
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # noqa: BLE001 - a scheduler hiccup must not stop the batch; keep going slowly
        threads = 1
    return max(2, 2 * threads)


def run_tasks(client, fn: Callable[[Any], Any], items: Iterable[Any], *, retries: int = 2,
              name: Callable[[Any], str] = str, prefix: str = "ispviewer",
              extra_args: tuple = ()) -> Iterator[TaskOutcome]:
    """Run ``fn(item, *extra_args)`` on the cluster for every item; yield outcomes in completion order.

    At most :func:`in_flight_limit` tasks are submitted at a time (re-read after each completion, so
    workers that join later get work). A task that raises is retried ``retries`` times by Dask; a
    worker that dies makes the scheduler run the task elsewhere. When the generator stops early (the
    caller breaks, or Ctrl-C arrives), every task still pending is cancelled.
    """
    from dask.distributed import as_completed

    queue = iter(items)
    pending: dict[Any, Any] = {}
    completed = as_completed()
    run_id = uuid.uuid4().hex[:8]

    def refill() -> None:
        limit = in_flight_limit(client)
        while len(pending) < limit:
            item = next(queue, _END)
            if item is _END:
                return
            key = f"{prefix}-{name(item)}-{run_id}"
            fut = client.submit(fn, item, *extra_args, key=key, retries=retries, pure=False)
            pending[fut] = item
            completed.add(fut)

    try:
        refill()
        for fut in completed:
            item = pending.pop(fut)
            try:
                outcome = TaskOutcome(item, value=fut.result())
            except Exception as exc:  # noqa: BLE001 - the task's own failure, reported per item
                outcome = TaskOutcome(item, error=describe_failure(exc))
            fut.release()
            refill()  # before yielding: the cluster keeps working while the caller stores the result
            yield outcome
    finally:
        if pending:
            client.cancel(list(pending), force=True)
            pending.clear()


_END = object()
