"""Scaling-out settings: quorum queues, a list of RabbitMQ nodes, PgBouncer, as they reach Celery and the drivers."""

import pytest

from backend.app.task.celery import celery_config
from backend.core.conf import Settings, SettingsError, load_settings


def test_several_rabbitmq_hosts_make_a_fail_over_url_list() -> None:
    settings = Settings(CELERY_RABBITMQ_HOST='n1, n2:5673,n3', CELERY_RABBITMQ_VHOST='/')  # type: ignore[arg-type]
    assert settings.broker_url == (
        'amqp://guest:guest@n1:5672/%2F;amqp://guest:guest@n2:5673/%2F;amqp://guest:guest@n3:5672/%2F'
    )


def test_no_rabbitmq_host_is_refused_with_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('CELERY_RABBITMQ_HOST', ' , ')
    with pytest.raises(SettingsError, match="CELERY_RABBITMQ_HOST=' , ': needs a host"):
        load_settings()


def test_classic_queues_keep_priorities_on_direct_exchanges() -> None:
    config = celery_config(Settings())
    queue = next(q for q in config['task_queues'] if q.name == 'default')
    assert queue.queue_arguments == {'x-max-priority': 9}
    assert queue.exchange.type == 'direct'
    assert config['task_queue_max_priority'] == 9
    assert 'task_create_missing_queue_type' not in config


def test_quorum_queues_have_a_delivery_limit_no_priority_and_topic_exchanges() -> None:
    config = celery_config(Settings(TASK_QUEUE_TYPE='quorum', TASK_QUEUE_DELIVERY_LIMIT=7))  # type: ignore[arg-type]
    for queue in config['task_queues']:
        assert queue.queue_arguments == {'x-queue-type': 'quorum', 'x-delivery-limit': 7}
        # Native delayed delivery routes countdown/ETA messages back through topic exchanges only.
        assert queue.exchange.type == 'topic'
    assert 'task_queue_max_priority' not in config
    assert config['task_create_missing_queue_type'] == 'quorum'
    assert config['broker_native_delayed_delivery_queue_type'] == 'quorum'


@pytest.mark.parametrize(('value', 'expected'), [('stream', "Input should be 'classic' or 'quorum'"), ('1', 'greater')])
def test_bad_queue_settings_are_named(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    name = 'TASK_QUEUE_TYPE' if value == 'stream' else 'TASK_QUEUE_DELIVERY_LIMIT'
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f'{name}=') as raised:
        load_settings()
    assert expected in str(raised.value)


def test_behind_pgbouncer_no_statement_is_prepared_and_beat_listens_on_postgresql_itself() -> None:
    direct = Settings(DATABASE_PORT=6432, DATABASE_PGBOUNCER=True, DATABASE_DIRECT_PORT=5432)  # type: ignore[arg-type]
    assert direct.raw_prepare_threshold is None
    assert direct.database_connect_args('psycopg') == {'connect_timeout': 5, 'prepare_threshold': None}
    assert direct.database_connect_args('asyncpg')['statement_cache_size'] == 0
    assert direct.database_listen_dsn == direct.database_dsn.replace(':6432/', ':5432/')
    assert ':6432/' in direct.database_dsn


def test_behind_pgbouncer_without_a_direct_address_beat_polls() -> None:
    assert Settings(DATABASE_PGBOUNCER=True).database_listen_dsn is None  # type: ignore[arg-type]
    plain = Settings()
    assert plain.database_listen_dsn == plain.database_dsn
    assert plain.raw_prepare_threshold == 0
    assert plain.database_connect_args('asyncpg') == {'timeout': 5}  # prepared statements as usual; bounded connect


def test_quorum_queues_on_redis_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('CELERY_BROKER', 'redis')
    monkeypatch.setenv('TASK_QUEUE_TYPE', 'quorum')
    with pytest.raises(SettingsError, match='TASK_QUEUE_TYPE=quorum needs CELERY_BROKER=rabbitmq'):
        load_settings()
