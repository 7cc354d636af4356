"""The compose proof must fail when a service is broken: a bad flag kills the process, a bad health check never
passes. (A module of its own: the healthy stack of test_compose.py is stopped before these run, so its worker
cannot answer for a broken one with the same node name.)
"""

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support import services
from tests.support.compose import ComposeError, load, service_for_run, start, wait_healthy

pytestmark = pytest.mark.broker


def _broken(mutate: Any) -> dict[str, Any]:
    compose = copy.deepcopy(load())
    mutate(compose['services']['fba_celery_worker'])
    return compose


#: A broken worker service, and how the proof must notice: the process dies, or its health check never passes.
BROKEN = {
    'empty --queues=': (lambda spec: spec['command'].insert(2, '--queues='), 'exited with 2'),
    'misspelt flag': (lambda spec: spec['command'].extend(['--concurency', '2']), 'exited with 2'),
    'wrong module path in the health check': (
        lambda spec: spec['healthcheck'].update(
            test=['CMD-SHELL', spec['healthcheck']['test'][1].replace('task.celery:', 'task.celeri:')]
        ),
        'timed out',
    ),
    'health check pinging another node': (
        lambda spec: spec['healthcheck'].update(
            test=['CMD-SHELL', spec['healthcheck']['test'][1].replace('fba_worker@', 'worker@')]
        ),
        'timed out',
    ),
}


@pytest.mark.broker
@pytest.mark.parametrize(('mutation', 'failure'), BROKEN.values(), ids=BROKEN.keys())
def test_compose_proof_fails_on_a_broken_worker_service(
    mutation: Any, failure: str, test_run: services.TestRun, tmp_path: Path
) -> None:
    local = service_for_run('fba_celery_worker', test_run, tmp_path, compose=_broken(mutation))
    spawned = start(local, tmp_path)
    try:
        with pytest.raises(ComposeError, match=failure):
            wait_healthy(local, spawned, tmp_path, timeout=25)
    finally:
        spawned.stop()
