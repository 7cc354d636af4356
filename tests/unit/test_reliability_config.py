"""The delivery defaults `celery_config` gives every app, and `fba workers --pools` parsing (no I/O)."""

import pytest

from backend.app.task.celery import WORKER_CONSUMER, celery_config
from backend.app.task.errors import TaskError
from backend.cli.pools import parse_pools, worker_commands
from backend.core.conf import Settings


def test_rabbitmq_delivery_defaults_leave_no_task_behind() -> None:
    config = celery_config(Settings(_env_file=None, CELERY_BROKER='rabbitmq', CELERY_WORKER_PREFETCH_MULTIPLIER=3))
    assert (config['task_acks_late'], config['task_reject_on_worker_lost']) == (True, True)
    assert config['worker_prefetch_multiplier'] == 3
    assert config['broker_transport_options'] == {'confirm_publish': True}
    assert config['task_default_delivery_mode'] == 'persistent'
    assert config['task_publish_retry'] and config['task_publish_retry_policy']['max_retries'] == 3
    assert config['worker_consumer'] == WORKER_CONSUMER


def test_redis_visibility_timeout_outlasts_the_hard_time_limit_and_priorities_have_steps() -> None:
    options = celery_config(Settings(_env_file=None, CELERY_BROKER='redis', CELERY_TASK_TIME_LIMIT=900))[
        'broker_transport_options'
    ]
    assert options['visibility_timeout'] > 900
    assert (options['priority_steps'], options['sep'], options['queue_order_strategy']) == (
        list(range(10)),
        ':',
        'priority',
    )


def test_pools_option_gives_one_worker_per_pool() -> None:
    pools = parse_pools('email:2, reports+exports:1')
    assert pools == {'email': ('email', 2), 'reports': ('reports,exports', 1)}
    commands = worker_commands(pools, 'INFO')
    assert commands['reports'][-3:] == ['--queues=reports,exports', '--concurrency=1', '--hostname=reports@%h']


@pytest.mark.parametrize('text', ['email', 'email:0', 'email:2,email:1', 'a b:1', ''])
def test_pools_option_refuses_what_it_cannot_run(text: str) -> None:
    with pytest.raises(TaskError, match='--pools'):
        parse_pools(text)
