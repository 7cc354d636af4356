"""The compose proof must fail when a service is broken: a bad flag kills the process, a bad health check never
passes. (A module of its own: the healthy stack of test_compose.py is stopped before these run, so its worker
cannot answer for a broken one with the same node name.)
"""

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support import services
from tests.support.compose import ComposeError, healthy_once, load, service_for_run, start, wait_healthy


def _broken(mutate: Any) -> dict[str, Any]:
    compose = copy.deepcopy(load())
    mutate(compose['services']['fba_celery_worker'])
    return compose


#: A worker service whose command is broken: the process must die, and the proof report it.
BROKEN_COMMANDS = {
    'empty --queues=': lambda spec: spec['command'].insert(2, '--queues='),
    'misspelt flag': lambda spec: spec['command'].extend(['--concurency', '2']),
}

#: A worker service whose health check is broken: it must not pass even while the worker itself is up.
BROKEN_CHECKS = {
    'wrong module path in the health check': lambda spec: spec['healthcheck'].update(
        test=['CMD-SHELL', spec['healthcheck']['test'][1].replace('task.celery:', 'task.celeri:')]
    ),
    'health check pinging another node': lambda spec: spec['healthcheck'].update(
        test=['CMD-SHELL', spec['healthcheck']['test'][1].replace('fba_worker@', 'worker@')]
    ),
}


@pytest.mark.parametrize('mutation', BROKEN_COMMANDS.values(), ids=BROKEN_COMMANDS.keys())
def test_compose_proof_fails_on_a_broken_worker_command(
    mutation: Any, test_run: services.TestRun, tmp_path: Path
) -> None:
    local = service_for_run('fba_celery_worker', test_run, tmp_path, compose=_broken(mutation))
    spawned = start(local, tmp_path)
    try:
        with pytest.raises(ComposeError, match='exited with 1:\nError: '):  # a usage error: one sentence, code 1
            wait_healthy(local, spawned, tmp_path, timeout=60)
    finally:
        spawned.stop()


@pytest.mark.parametrize('mutation', BROKEN_CHECKS.values(), ids=BROKEN_CHECKS.keys())
def test_compose_proof_fails_on_a_broken_worker_health_check(
    mutation: Any, test_run: services.TestRun, tmp_path: Path
) -> None:
    # Given the worker started from its real command, passing its real health check
    good = service_for_run('fba_celery_worker', test_run, tmp_path)
    spawned = start(good, tmp_path)
    try:
        wait_healthy(good, spawned, tmp_path, timeout=120)
        # When the broken health check runs against that same healthy worker, then it does not pass
        broken = service_for_run('fba_celery_worker', test_run, tmp_path, compose=_broken(mutation))
        assert not healthy_once(broken, tmp_path)
    finally:
        spawned.stop()
