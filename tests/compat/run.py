"""Fetch the Celery sdist of the installed version and run its `t/integration` tests against our backend.

Celery's `test_tasks.py` and `test_canvas.py` run with the suite's own worker
(its conftest starts one in-process through `celery.contrib.testing`), RabbitMQ
as broker on a private vhost, and `PostgresBackend` as `result_backend` on a
private database migrated to head; both are dropped at the end. The sdist is
downloaded once into `.cache/compat/`. Exit status: pytest's.
"""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import celery

from tests.support.services import HOST, TestRun, require_services

CACHE = Path('.cache/compat')
TESTS = ('t/integration/test_tasks.py', 't/integration/test_canvas.py')
#: What the tests need from the sdist besides the two files: the `t` package, its helpers, the pytest settings.
MEMBERS = ('t/__init__.py', 't/skip.py', 't/canvas_helpers.py', 't/integration/', 'pyproject.toml')


def celery_sources(version: str) -> Path:
    """`.cache/compat/celery-<version>/` with the test files, downloaded with pip the first time."""
    root = CACHE / f'celery-{version}'
    if (root / 't' / 'integration' / 'conftest.py').exists():
        return root
    sdist = CACHE / f'celery-{version}.tar.gz'
    if not sdist.exists():
        subprocess.run(
            [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--no-binary', ':all:',
             f'celery=={version}', '--dest', str(CACHE)],
            check=True,
        )  # fmt: skip
    with tarfile.open(sdist) as archive:
        prefix = f'celery-{version}/'
        wanted = [m for m in archive.getmembers() if m.name.removeprefix(prefix).startswith(MEMBERS)]
        archive.extractall(CACHE, members=wanted, filter='data')
    return root


def main() -> int:
    require_services(['PostgreSQL', 'RabbitMQ'])
    root = celery_sources(celery.__version__)
    run = TestRun.allocate()
    try:
        os.environ.update(run.environ())
        # Imported only now: the settings are read once, and must name this run's database and vhost.
        from backend.app.task.celery import RESULT_BACKEND
        from backend.database import migrate

        migrate.upgrade()
        env = {
            **os.environ,
            'TEST_BROKER': f'pyamqp://guest:guest@{HOST}:5672/{run.vhost}',
            'TEST_BACKEND': RESULT_BACKEND,
            'REDIS_HOST': HOST,
            # As Celery's CI runs them: test_trace_log_arguments reads the worker's INFO lines.
            'WORKER_LOGLEVEL': 'INFO',
        }
        argv = [
            sys.executable,
            '-m',
            'pytest',
            *TESTS,
            '-p',
            'celery.contrib.pytest',
            '-p',
            'no:cacheprovider',
            '-q',
            '--durations=15',
            '-rfEs',
            *sys.argv[1:],
        ]
        return subprocess.run(argv, cwd=root, env=env, check=False).returncode
    finally:
        run.release()


if __name__ == '__main__':
    sys.exit(main())
