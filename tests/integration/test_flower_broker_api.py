"""Flower's broker page gets the RabbitMQ management API only when RabbitMQ is the broker and the API answers."""

import socket
from collections.abc import Iterator

import pytest

from backend.cli.flower import broker_api_url
from backend.core.conf import Settings
from tests.support.processes import free_port


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def settings(**values: object) -> Settings:
    base = {'CELERY_BROKER': 'rabbitmq', 'CELERY_RABBITMQ_USERNAME': 'ops', 'CELERY_RABBITMQ_PASSWORD': 'p@ss/word'}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[arg-type]


def test_broker_api_url_carries_the_broker_login_when_management_answers(listening_port: int) -> None:
    url = broker_api_url(settings(CELERY_RABBITMQ_MANAGEMENT_PORT=listening_port))
    assert url == f'http://ops:p%40ss%2Fword@127.0.0.1:{listening_port}/api/'


def test_broker_api_url_is_left_out_when_management_does_not_answer() -> None:
    assert broker_api_url(settings(CELERY_RABBITMQ_MANAGEMENT_PORT=free_port())) is None


@pytest.mark.parametrize('values', [{'CELERY_BROKER': 'redis'}, {'CELERY_RABBITMQ_MANAGEMENT_PORT': 0}])
def test_broker_api_url_is_left_out_without_rabbitmq_management(values: dict[str, object], listening_port: int) -> None:
    assert broker_api_url(settings(**{'CELERY_RABBITMQ_MANAGEMENT_PORT': listening_port, **values})) is None
