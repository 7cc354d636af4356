"""`fba task send-batch`: many calls from a JSON array (inline or @file), checked before any is sent."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_cli import assert_one_sentence_error, fba
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


@pytest.mark.broker
def test_send_batch_from_a_file_prints_one_id_per_call(worker: WorkerProcess, celery_app: Any, tmp_path: Path) -> None:
    # Given a file of three calls
    items = tmp_path / 'calls.json'
    items.write_text(json.dumps([{'args': [1, 2]}, {'kwargs': {'x': 3, 'y': 4}}, {'args': [5], 'kwargs': {'y': 6}}]))
    # When they are sent as one batch
    done = fba('task', 'send-batch', 'task.add', '--items', f'@{items}')
    # Then one id per call is printed, in order, and each ran with its own arguments
    assert done.returncode == 0, done.stderr
    task_ids = done.stdout.split()
    assert [celery_app.AsyncResult(t).get(timeout=60, interval=0.05) for t in task_ids] == [3, 7, 11]


@pytest.mark.parametrize(
    ('items', 'expected'),
    [
        ('[{"args": [1, 2]}, {"args": [1]}]', 'Item 1: Arguments do not fit task task.add'),
        ('{"args": [1, 2]}', '--items must be a JSON array'),
        ('[{"argz": [1]}]', '--items item 0 must be an object with only "args" and "kwargs"'),
        ('[]', '--items is empty'),
        ('[{"args": [1, 2]', '--items is not valid JSON'),
        ('@/nonexistent/calls.json', '--items file /nonexistent/calls.json cannot be read'),
    ],
)
def test_send_batch_refuses_bad_items_in_one_sentence(items: str, expected: str) -> None:
    assert_one_sentence_error(fba('task', 'send-batch', 'task.add', '--items', items), expected)
