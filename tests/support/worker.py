"""Real Celery workers as subprocesses, started with the command users type and stopped by the test."""

import os
import sys
import uuid

from celery import Celery

from tests.support.processes import Spawned, spawn
from tests.support.wait import wait_for

CELERY_APP = 'backend.app.task.celery:celery_app'


#: A worker subprocess: the generic process handle, named after the worker's node name.
WorkerProcess = Spawned


def start_worker(
    app: Celery,
    *,
    app_path: str = CELERY_APP,
    queues: str | None = None,
    pool: str = 'solo',
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    cwd: str | None = None,
    wait: bool = True,
) -> WorkerProcess:
    name = f'test-{uuid.uuid4().hex[:8]}@localhost'
    argv = [
        sys.executable,
        '-m',
        'celery',
        '-A',
        app_path,
        'worker',
        '-n',
        name,
        '-P',
        pool,
        '-c',
        str(concurrency),
        '--loglevel=INFO',
        '--without-mingle',
        '--without-gossip',
    ]
    if queues:
        argv += ['-Q', queues]
    argv += extra_args or []
    worker = spawn(name, argv, env={**os.environ, **(extra_env or {})}, cwd=cwd)
    if wait:
        try:
            wait_until_ready(app, worker)
        except BaseException:  # a worker that never answered is not left running after the test
            worker.stop()
            raise
    return worker


def wait_until_ready(app: Celery, worker: WorkerProcess, timeout: float = 60.0) -> None:
    def answered() -> bool:
        if not worker.alive():
            raise AssertionError(f'worker exited with {worker.proc.returncode}:\n{worker.log()[-3000:]}')
        return bool(app.control.ping(destination=[worker.name], timeout=0.3))

    wait_for(answered, timeout=timeout, what=f'worker {worker.name} to answer ping')
