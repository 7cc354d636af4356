"""Values the broker or PostgreSQL cannot carry are refused where they enter: API 422, CLI one sentence, and
`send_task`/`delay`/`apply_async`/batch publishing raise before anything is published."""

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.app.task.errors import PoisonValue
from backend.app.task.messaging.dispatch import publish, publish_each, publish_many
from tests.support.api import assert_error
from tests.support.beat import QueueProbe

pytestmark = pytest.mark.broker

#: (JSON text of a request's `args`, what the error names): what JSON parsers accept but the result store cannot take.
POISON_ARGS_JSON = [
    ('[NaN, 1]', 'args[0] is not a finite number (nan)'),
    ('[1, Infinity]', 'args[1] is not a finite number (inf)'),
    ('[-Infinity, 1]', 'args[0] is not a finite number (-inf)'),
    ('[1e400, 1]', 'args[0] is not a finite number (inf)'),
    ('[1' + '0' * 400 + ', 1]', 'args[0] is a number beyond the double-precision range'),
    ('["\\ud800", 1]', 'args[0] contains a lone UTF-16 surrogate'),
    ('[{"deep": ["\\udfff"]}, 1]', 'args[0].deep[0] contains a lone UTF-16 surrogate'),
]
POISON_VALUES = [float('nan'), float('inf'), 10**400, 'a\x00b', '\ud800', {'key\x00': 1}]


@pytest.fixture
def queue_probe(celery_app: Any, private_queue: str) -> Iterator[QueueProbe]:
    probe = QueueProbe(celery_app, private_queue)
    yield probe
    probe.close()


@pytest.mark.parametrize(('args', 'named'), POISON_ARGS_JSON)
async def test_api_send_refuses_poison_with_422_naming_the_field(api: httpx.AsyncClient, args: str, named: str) -> None:
    body = f'{{"args": {args}}}'.encode()
    response = await api.post('/api/v1/tasks/task.add/send', content=body, headers={'content-type': 'application/json'})
    assert_error(response, 422, named, 'cannot carry it')


async def test_api_send_batch_refuses_poison_naming_the_item(api: httpx.AsyncClient) -> None:
    body = b'{"items": [{"args": [1, 2]}, {"args": [1, 2], "kwargs": {}}, {"kwargs": {"x": NaN, "y": 1}}]}'
    response = await api.post(
        '/api/v1/tasks/task.add/send-batch', content=body, headers={'content-type': 'application/json'}
    )
    assert_error(response, 422, 'Item 2: kwargs.x is not a finite number (nan)')


def fba(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-m', 'backend.cli', *args], capture_output=True, text=True, timeout=60, env={**os.environ}
    )


@pytest.mark.parametrize(
    ('argv', 'named'),
    [
        (['task', 'send', 'task.add', '--args', '[NaN, 1]'], 'args[0] is not a finite number (nan)'),
        (['task', 'send', 'task.add', '--kwargs', '{"x": 1e400, "y": 1}'], 'kwargs.x is not a finite number (inf)'),
        (['task', 'send', 'task.add', '--args', '["\\ud800", 1]'], 'args[0] contains a lone UTF-16 surrogate'),
        (['task', 'send', 'task.add', '--args', '["a\\u0000", 1]'], 'args[0] contains the NUL character'),
        (
            ['task', 'send-batch', 'task.add', '--items', '[{"args": [1, 2]}, {"args": [Infinity, 2]}]'],
            'Item 1: args[0] is not a finite number (inf)',
        ),
    ],
    ids=['nan', 'overflow', 'surrogate', 'nul', 'batch'],
)
def test_cli_send_refuses_poison_with_one_sentence(argv: list[str], named: str) -> None:
    done = fba(*argv)
    assert done.returncode == 1, done.stderr
    assert 'Traceback' not in done.stderr and done.stdout == ''
    assert named in ' '.join(done.stderr.split())


@pytest.mark.parametrize('value', POISON_VALUES, ids=['nan', 'inf', 'huge-int', 'nul', 'surrogate', 'nul-key'])
def test_every_python_send_raises_before_publishing(
    celery_app: Any, private_queue: str, queue_probe: QueueProbe, value: Any
) -> None:
    add = celery_app.tasks['task.add']
    sends = [
        lambda: celery_app.send_task('task.add', args=[value, 1], queue=private_queue),
        lambda: celery_app.send_task('task.add', kwargs={'x': value, 'y': 1}, queue=private_queue),
        lambda: add.apply_async((1, value), queue=private_queue),
        lambda: add.s(value, 1).set(queue=private_queue).delay(),
        lambda: (add.s(1, 2).set(queue=private_queue) | add.si(value, 1)).delay(),
        lambda: add.s(1, 2).set(queue=private_queue, link=add.si(1, value)).delay(),
        lambda: publish(celery_app, 'task.add', [value, 1], {}, queue=private_queue),
        lambda: publish_many(celery_app, 'task.add', [([1, 2], {}), ([value, 2], {})], queue=private_queue),
    ]
    for send in sends:
        with pytest.raises(PoisonValue, match='cannot carry it'):
            send()
    # The queue holds only the healthy call sent afterwards: none of the refused ones (nor a part of the batch).
    celery_app.send_task('task.add', args=[1, 2], queue=private_queue)
    assert queue_probe.count() == 1


def test_delay_of_a_task_with_a_poison_task_id_is_refused(celery_app: Any, private_queue: str) -> None:
    with pytest.raises(PoisonValue, match='task_id contains the NUL character'):
        celery_app.send_task('task.ping', task_id='id\x00', queue=private_queue)


def test_beat_publishing_leaves_out_a_call_that_can_never_be_sent_and_sends_the_others(
    celery_app: Any, private_queue: str, queue_probe: QueueProbe, caplog: pytest.LogCaptureFixture
) -> None:
    # Given due slots of which one carries an integer beyond double range (jsonb keeps it, so SQL can put it there)
    options = {'queue': private_queue}
    calls = [
        ('task.add', [1, 2], {}, {'task_id': 'slot-ok-1', **options}),
        ('task.add', [10**400, 2], {}, {'task_id': 'slot-poison', **options}),
        ('task.add', [3, 4], {}, {'task_id': 'slot-ok-2', **options}),
    ]
    # When beat publishes them
    publish_each(celery_app, calls)
    # Then the others are sent, and the one that never can be is named in the log instead of stopping beat
    assert sorted(queue_probe.ids()) == ['slot-ok-1', 'slot-ok-2']
    assert 'slot-poison' in caplog.text and 'beyond the double-precision range' in caplog.text
