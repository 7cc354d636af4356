"""Serves one worker's Prometheus metrics over HTTP, prefork children included.

prometheus_client picks its multiprocess mode when it is first imported, so
`use_private_directory` must run before anything imports it; `fba worker` calls
it first thing. Each worker gets a fresh directory (stale files from an earlier
run would add old counts) and removes it when it exits.
"""

import atexit
import os
import shutil
import sys
import tempfile
from typing import Any

from celery.signals import worker_process_shutdown

MULTIPROC_ENV = 'PROMETHEUS_MULTIPROC_DIR'


def use_private_directory() -> str:
    if 'prometheus_client' in sys.modules:
        raise RuntimeError('prometheus_client was imported before the metrics directory was set')
    directory = tempfile.mkdtemp(prefix='fba-metrics-')
    os.environ[MULTIPROC_ENV] = directory
    atexit.register(_remove_if_owner, directory, os.getpid())
    return directory


def _remove_if_owner(directory: str, owner: int) -> None:
    # Pool children inherit atexit handlers; only the worker that made the directory removes it.
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)


def _mark_child_dead(pid: int | None = None, **_: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid())


def serve(port: int, address: str) -> None:
    """Start the exposition thread (raises OSError when the port is taken)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=address, registry=registry)
    # A replaced pool child must stop counting towards the live in-progress gauge.
    worker_process_shutdown.connect(_mark_child_dead, weak=False, dispatch_uid='fba.metrics.child_dead')
