"""Celery internals the framework uses (checked by tests/unit/test_internals.py).

`PostgresBackend` is a Celery result backend: besides the documented override
points (`_store_result`, `_get_task_meta_for`, `_forget`, `_save_group`,
`_restore_group`, `_delete_group`, which every custom backend implements and
`BACKEND_HOOKS` lists for the test), it reuses two private parts of
`BaseBackend` named below.
"""

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from celery.backends.base import BaseBackend

T = TypeVar('T')

#: Methods `BaseBackend`'s public API calls and a custom backend implements.
BACKEND_HOOKS = {
    'store_result': '_store_result',
    'get_task_meta': '_get_task_meta_for',
    'forget': '_forget',
    'save_group': '_save_group',
    'restore_group': '_restore_group',
    'delete_group': '_delete_group',
}


def ensure_retryable(backend: BaseBackend, func: Callable[[], T]) -> T:
    """`BaseBackend._ensure_retryable`: run `func` under the `result_backend_always_retry` policy.

    Celery applies that policy (retries with backoff while
    `exception_safe_to_retry` says so, then `BackendStoreError`) only inside
    its own store/get paths; our batched writes and `get_many` polls need the
    same, with the same settings, and Celery has no public entry for it.
    """
    return backend._ensure_retryable(func)


def result_cache(backend: BaseBackend) -> MutableMapping[str, Any]:
    """`BaseBackend._cache`: the per-backend cache of ready results that `get_task_meta` reads and fills.

    `get_many` must read and fill the same cache, or `AsyncResult.get()` after a
    group join would query PostgreSQL again for results already fetched.
    """
    return backend._cache
