import pytest

from backend.core.conf import Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    ('variable', 'value', 'expected'),
    [
        ('CELERY_BROKER', 'kafka', "CELERY_BROKER='kafka': Input should be 'rabbitmq' or 'redis'"),
        ('DATABASE_PORT', '70000', "DATABASE_PORT='70000': Input should be less than or equal to 65535"),
        ('CELERY_RABBITMQ_PORT', 'abc', "CELERY_RABBITMQ_PORT='abc': Input should be a valid integer"),
        ('TIMEZONE', 'Mars/Olympus', "TIMEZONE='Mars/Olympus': is not an IANA time zone"),
        ('CELERY_WORKER_POOL', 'gevent', "CELERY_WORKER_POOL='gevent': Input should be 'prefork', 'threads' or 'solo'"),
    ],
)
def test_load_settings_names_the_variable_and_accepted_values(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert expected in message
    assert '\n' not in message


def test_settings_error_hides_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('CELERY_BROKER_URL', '')
    monkeypatch.setenv('DATABASE_PASSWORD', 'hunter2')
    monkeypatch.setenv('REDIS_PORT', '0')
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert 'hunter2' not in str(raised.value)


def test_broker_url_for_rabbitmq_quotes_credentials_and_vhost() -> None:
    settings = Settings(CELERY_RABBITMQ_PASSWORD='p@ss/word', CELERY_RABBITMQ_VHOST='/')  # type: ignore[arg-type]
    assert settings.broker_url == 'amqp://guest:p%40ss%2Fword@127.0.0.1:5672/%2F'


def test_broker_url_for_redis_uses_the_broker_database() -> None:
    settings = Settings(CELERY_BROKER='redis', CELERY_BROKER_REDIS_DATABASE=7, REDIS_PASSWORD='s3cret')  # type: ignore[arg-type]
    assert settings.broker_url == 'redis://:s3cret@127.0.0.1:6379/7'


def test_full_broker_url_overrides_the_parts() -> None:
    settings = Settings(CELERY_BROKER_URL='amqp://u:p@elsewhere:5673/v')  # type: ignore[arg-type]
    assert settings.broker_url == 'amqp://u:p@elsewhere:5673/v'


def test_database_urls_choose_the_driver_per_side() -> None:
    settings = Settings(DATABASE_NAME='x', DATABASE_PASSWORD='a b')  # type: ignore[arg-type]
    assert settings.database_url('asyncpg') == 'postgresql+asyncpg://postgres:a%20b@127.0.0.1:5432/x'
    assert settings.database_url('psycopg').startswith('postgresql+psycopg://')
    assert settings.database_dsn == 'postgresql://postgres:a%20b@127.0.0.1:5432/x'


def test_settings_error_is_a_plain_error_that_start_up_turns_into_an_exit() -> None:
    assert issubclass(SettingsError, Exception)
    assert not issubclass(SettingsError, SystemExit)
