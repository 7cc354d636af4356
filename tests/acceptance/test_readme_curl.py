"""The README's `curl` examples, run as a reader would paste them, against a live `fba api`: each answers 2xx."""

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.test_api_server import server  # noqa: F401  (the live `fba api` fixture)
from tests.support.api import TOKEN
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker

README = Path(__file__).resolve().parents[2] / 'README.md'
#: Each route group the README must show a request for.
ROUTE_GROUPS = (
    '/tasks/task.add/send"',
    '/send-batch"',
    '/task-results/$TASK_ID"',
    '/schedules/preview"',
    '-X POST "$FBA_URL/api/v1/schedules"',
    '-X PATCH "$FBA_URL/api/v1/schedules/$SCHEDULE_ID"',
    '/schedules/$SCHEDULE_ID/run"',
    '"$FBA_URL/api/v1/dead-letters?',
    '/requeue"',
    '/dead-letters/purge"',
    '/monitoring/queues"',
)


def readme_curls() -> list[str]:
    """Every `curl` command in the README's shell blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r'```sh\n(.*?)```', README.read_text(encoding='utf-8'), re.DOTALL):
        for line in block.replace('\\\n', ' ').splitlines():
            if line.startswith('curl '):
                commands.append(line)
    return commands


def test_the_readme_shows_a_request_for_every_route_group() -> None:
    commands = '\n'.join(readme_curls())
    assert [group for group in ROUTE_GROUPS if group not in commands] == []


def test_every_readme_curl_answers_2xx(
    server: tuple[str, Path],  # noqa: F811
    worker: WorkerProcess,
    celery_app: Any,
    pg: psycopg.Connection,
    tmp_path: Path,
) -> None:
    # Given a live API, a worker, and a dead letter of task.add to look at
    row = pg.execute(
        'INSERT INTO task_dead_letter (task_id, task_name, args, kwargs, queue, reason) '
        "VALUES (%s, 'task.add', '[1, 2]', '{}', 'default', 'retries_exhausted') RETURNING id",
        [str(uuid.uuid4())],
    ).fetchone()
    assert row is not None
    base, _ = server
    env = {'FBA_URL': base, 'FBA_TOKEN': TOKEN, 'DEAD_LETTER_ID': str(row[0]), 'PATH': '/usr/bin:/bin'}
    body_file = tmp_path / 'body'
    # When each README curl runs in order (ids taken from earlier answers, as a reader would)
    for command in readme_curls():
        if '$TASK_ID' in command:  # a result exists once the worker stored one
            celery_app.AsyncResult(env['TASK_ID']).get(timeout=60, interval=0.05)
        done = subprocess.run(
            ['bash', '-c', f"{command} -o '{body_file}' -w '%{{http_code}}'"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # Then each answers 2xx
        text = body_file.read_text() if body_file.exists() else ''
        assert done.returncode == 0 and done.stdout.startswith('2'), (command, done.stdout, done.stderr, text)
        answer = json.loads(text) if text.strip() else None
        if isinstance(answer, dict) and 'task_id' in answer and 'TASK_ID' not in env:
            env['TASK_ID'] = answer['task_id']
        if '-X POST "$FBA_URL/api/v1/schedules"' in command:
            env['SCHEDULE_ID'] = str(answer['id'])
        body_file.unlink(missing_ok=True)
