"""Real Celery workers as subprocesses, started with the command users type and stopped by the test."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from celery import Celery

from tests.support.wait import wait_for

CELERY_APP = 'backend.app.task.celery:celery_app'


@dataclass
class WorkerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL to the whole process group if anything lingers."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """kill -9 the worker and its pool children, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def start_worker(
    app: Celery,
    *,
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
        CELERY_APP,
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
    env = {**os.environ, **(extra_env or {})}
    log_path = Path(tempfile.mkstemp(prefix='fba-worker-', suffix='.log')[1])
    with log_path.open('wb') as log:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(name=name, proc=proc, log_path=log_path, extra_env=extra_env or {})
    if wait:
        wait_until_ready(app, worker)
    return worker


def wait_until_ready(app: Celery, worker: WorkerProcess, timeout: float = 60.0) -> None:
    def answered() -> bool:
        if not worker.alive():
            raise AssertionError(f'worker exited with {worker.proc.returncode}:\n{worker.log()[-3000:]}')
        return bool(app.control.ping(destination=[worker.name], timeout=0.3))

    wait_for(answered, timeout=timeout, what=f'worker {worker.name} to answer ping')
