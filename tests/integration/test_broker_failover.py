"""A list of RabbitMQ nodes: `fba health` and publishing find the one that answers, wherever it is in the list."""

import os

import pytest

from backend.cli.health import check_broker
from backend.core.conf import Settings

pytestmark = pytest.mark.rabbitmq_only

#: Two addresses where nothing listens, then the run's real broker.
HOSTS = '127.0.0.1:1,127.0.0.1:2,127.0.0.1:5672'


def test_health_finds_the_one_node_that_answers_last_in_the_list() -> None:
    settings = Settings(CELERY_RABBITMQ_HOST=HOSTS, CELERY_RABBITMQ_VHOST=os.environ['CELERY_RABBITMQ_VHOST'])  # type: ignore[arg-type]
    assert check_broker(settings, timeout=20) == 'rabbitmq accepts connections'
