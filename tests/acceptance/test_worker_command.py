"""The worker started the way people start it today, and drop-in discovery in a real worker."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.wait import wait_for
from tests.support.worker import start_worker

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name('celery'))

pytestmark = pytest.mark.broker


def test_celery_worker_command_works_verbatim(celery_app: Any, private_queue: str) -> None:
    # `celery -A backend.app.task.celery:celery_app worker --loglevel=INFO`, plus only a private queue
    argv = [CELERY, '-A', 'backend.app.task.celery:celery_app', 'worker', '--loglevel=INFO', '-Q', private_queue]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        result = celery_app.send_task('task.add', args=[1, 2], queue=private_queue)
        assert result.get(timeout=60, interval=0.05) == 3
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def test_bad_setting_stops_the_worker_with_one_line_and_no_traceback() -> None:
    done = subprocess.run(
        [CELERY, '-A', 'backend.app.task.celery:celery_app', 'worker'],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, 'TIMEZONE': 'Nowhere/Land'},
    )
    assert done.returncode != 0
    assert 'Traceback' not in done.stderr
    assert "Invalid setting TIMEZONE='Nowhere/Land': is not an IANA time zone" in done.stderr


def _copy_of_backend(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / 'backend', tmp_path / 'backend', ignore=shutil.ignore_patterns('__pycache__'))
    return tmp_path / 'backend' / 'app' / 'task' / 'tasks'


def test_a_new_drop_in_folder_runs_in_a_real_worker_with_no_other_edit(
    tmp_path: Path, celery_app: Any, make_worker: Any, private_queue: str
) -> None:
    # Given a copy of the tree with one new folder holding a tasks.py
    feature = _copy_of_backend(tmp_path) / 'invoice'
    feature.mkdir()
    (feature / '__init__.py').write_text('')
    (feature / 'tasks.py').write_text(
        'from backend.app.task.tasks.base import task\n\n\n'
        "@task(name='invoice.total_lines')\n"
        'def total_lines(lines: list[float]) -> float:\n'
        '    return round(sum(lines), 2)\n'
    )
    # When a worker starts from that copy
    make_worker(queues=private_queue, cwd=str(tmp_path), extra_env={'PYTHONPATH': str(tmp_path)})
    # Then it runs the new task end to end
    result = celery_app.send_task('invoice.total_lines', args=[[1.25, 2.5]], queue=private_queue)
    assert result.get(timeout=60, interval=0.05) == 3.75


def test_a_drop_in_that_fails_to_import_stops_the_worker_naming_it(tmp_path: Path, celery_app: Any) -> None:
    feature = _copy_of_backend(tmp_path) / 'broken'
    feature.mkdir()
    (feature / '__init__.py').write_text('')
    (feature / 'tasks.py').write_text('raise RuntimeError("missing API key for the broken feature")\n')
    worker = start_worker(celery_app, cwd=str(tmp_path), extra_env={'PYTHONPATH': str(tmp_path)}, wait=False)
    assert worker.proc.wait(60) != 0
    assert (
        'Task module backend.app.task.tasks.broken.tasks failed to import: '
        'RuntimeError: missing API key for the broken feature'
    ) in worker.log()
    assert 'Traceback' not in worker.log()


def test_celery_worker_keeps_a_broker_url_override_next_to_celery_broker(celery_app: Any, private_queue: str) -> None:
    # Given CELERY_BROKER (which the celery CLI copies into CELERY_BROKER_URL) and a real URL override,
    # with the host/port settings pointing nowhere
    env = {
        **os.environ,
        'CELERY_BROKER_URL': celery_app.conf.broker_url,
        'CELERY_RABBITMQ_PORT': '1',
        'REDIS_PORT': '1',
    }
    argv = [CELERY, '-A', 'backend.app.task.celery:celery_app', 'worker', '--loglevel=INFO', '-Q', private_queue]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Then the worker connects through the override and runs tasks
        result = celery_app.send_task('task.add', args=[2, 2], queue=private_queue)
        assert result.get(timeout=60, interval=0.05) == 4
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def test_fba_worker_throughput_profile_runs_one_solo_process_per_slot_with_the_tuned_settings(
    celery_app: Any, private_queue: str
) -> None:
    # Given `fba worker --profile throughput -c 2`, the one switch of the Performance section
    argv = [sys.executable, '-m', 'backend.cli', 'worker', '--profile', 'throughput', '-c', '2']
    argv += ['--queues', private_queue, '--hostname', f'{private_queue}@localhost', '--loglevel=WARNING']
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    names = [f'{private_queue}-1@localhost', f'{private_queue}-2@localhost']
    try:
        # When both of its processes answer
        stats = wait_for(
            lambda: (
                (found := celery_app.control.inspect(destination=names, timeout=0.5).stats())
                and len(found) == 2
                and found
            ),
            timeout=90,
            what='both throughput worker processes to answer stats',
        )
        # Then each is a solo worker with the deep prefetch, no STARTED write and batched results
        for name in names:
            assert stats[name]['pool']['implementation'].endswith('solo:TaskPool')
            assert stats[name]['prefetch_count'] == 200
        conf = celery_app.control.inspect(destination=names[:1], timeout=5).conf()[names[0]]
        assert conf['task_track_started'] is False
        assert (conf['task_acks_late'], conf['task_reject_on_worker_lost']) == (True, True)
        results = [celery_app.send_task('task.ping', queue=private_queue) for _ in range(50)]
        assert [result.get(timeout=60, interval=0.05) for result in results] == ['pong'] * 50
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
