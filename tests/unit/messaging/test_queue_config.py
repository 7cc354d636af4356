"""Queue, route and retry settings: the defaults, and bad values refused with one line (no I/O)."""

import pytest

from backend.app.task.messaging.queues import PRIORITY_HEADER, invert_priority_for_redis, queue_config
from backend.core.conf import Settings, SettingsError, load_settings


def test_default_queues_are_durable_with_priorities_and_messages_persistent() -> None:
    config = queue_config(Settings(_env_file=None))
    queues = {queue.name: queue for queue in config['task_queues']}
    assert sorted(queues) == ['bulk', 'critical', 'default']
    assert all(queue.durable and queue.exchange.durable for queue in queues.values())
    assert all(queue.queue_arguments == {'x-max-priority': 9} for queue in queues.values())
    assert config['task_default_delivery_mode'] == 'persistent'
    assert config['task_default_queue'] == 'default'


def test_queue_without_priorities_gets_no_max_priority_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TASK_QUEUES', '[{"name": "default"}, {"name": "bulk", "max_priority": 0}]')
    monkeypatch.setenv('TASK_ROUTES', '{"reports.*": "bulk"}')
    config = queue_config(load_settings(None))
    assert {q.name: q.queue_arguments for q in config['task_queues']} == {
        'default': {'x-max-priority': 9},
        'bulk': None,
    }
    assert config['task_routes'] == {'reports.*': 'bulk'}


@pytest.mark.parametrize(
    ('name', 'value', 'message'),
    [
        ('TASK_QUEUES', '[{"name": "bulk"}]', "TASK_QUEUES needs unique names, one of them 'default'"),
        ('TASK_ROUTES', '{"email.*": "nowhere"}', 'TASK_ROUTES sends to queues missing from TASK_QUEUES: nowhere'),
        ('TASK_RETRY_ON', 'ConnectionError, not an exception', 'must be comma-separated exception names'),
        ('TASK_RETRY_BACKOFF_BASE', '0', 'TASK_RETRY_BACKOFF_BASE'),
    ],
)
def test_bad_reliability_setting_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as stopped:
        load_settings(None)
    assert message in str(stopped.value)
    assert '\n' not in str(stopped.value)


def test_redis_priority_is_inverted_once_and_kept_across_a_retry() -> None:
    # Given a message sent with priority 8 (urgent)
    headers: dict = {}
    properties: dict = {'priority': 8}
    invert_priority_for_redis(headers=headers, properties=properties)
    # Then Redis stores it as 1 (read early) and the caller's number travels in a header
    assert (properties['priority'], headers[PRIORITY_HEADER]) == (1, 8)
    # When a retry republishes it with the stored (inverted) priority and the same headers
    retry_properties = {'priority': 1}
    invert_priority_for_redis(headers=headers, properties=retry_properties)
    # Then it keeps the caller's priority instead of flipping it back
    assert retry_properties['priority'] == 1


def test_redis_message_without_priority_is_the_least_urgent() -> None:
    properties: dict = {}
    invert_priority_for_redis(headers={}, properties=properties)
    assert properties['priority'] == 9
