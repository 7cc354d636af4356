"""Embedded PostgreSQL and Redis (the `embedded` extra): the same SQL features, loopback only, data kept."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from backend.app.task.errors import EmbeddedServerFailed, ServicesUnavailable
from backend.core.conf import Settings
from backend.embedded import process
from backend.embedded.postgres import EmbeddedPostgres
from backend.embedded.redis import EmbeddedRedis
from backend.embedded.stack import embedded_servers
from backend.embedded.up import should_embed
from tests.support.embedded import listening_port, open_tmp_dir


def _dsn(environ: dict[str, str]) -> str:
    return f'postgresql://postgres@127.0.0.1:{environ["DATABASE_PORT"]}/{environ["DATABASE_NAME"]}'


@pytest.fixture(scope='module')
def servers() -> Iterator[dict[str, str]]:
    with open_tmp_dir() as root, embedded_servers(root / '.fba') as environ:
        yield environ


@pytest.fixture
def folder() -> Iterator[Path]:
    with open_tmp_dir() as root:
        yield root


@pytest.fixture
def listener() -> Iterator[int]:
    with listening_port() as port:
        yield port


def test_embedded_postgres_delivers_notifications(servers: dict[str, str]) -> None:
    with psycopg.connect(_dsn(servers), autocommit=True) as listen, psycopg.connect(_dsn(servers)) as notify:
        listen.execute('LISTEN fba_test_channel_v1')
        notify.execute("SELECT pg_notify('fba_test_channel_v1', 'wake')")
        notify.commit()
        received = [(n.channel, n.payload) for n in listen.notifies(timeout=10, stop_after=1)]
    assert received == [('fba_test_channel_v1', 'wake')]


def test_embedded_postgres_skips_locked_rows(servers: dict[str, str]) -> None:
    # Given two rows and one transaction holding the first
    with psycopg.connect(_dsn(servers), autocommit=True) as setup:
        setup.execute('CREATE TABLE skip_locked_probe (id int PRIMARY KEY)')
        setup.execute('INSERT INTO skip_locked_probe VALUES (1), (2)')
    claim = 'SELECT id FROM skip_locked_probe ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1'
    with psycopg.connect(_dsn(servers)) as first, psycopg.connect(_dsn(servers)) as second:
        assert first.execute(claim).fetchall() == [(1,)]
        # When a second transaction claims the same way, Then it gets the other row without waiting
        assert second.execute(claim).fetchall() == [(2,)]


def test_embedded_servers_listen_on_loopback_only(servers: dict[str, str]) -> None:
    with psycopg.connect(_dsn(servers)) as conn:
        addresses = conn.execute('SHOW listen_addresses').fetchone()
        sockets = conn.execute('SHOW unix_socket_directories').fetchone()
    bind = redis.Redis(port=int(servers['REDIS_PORT'])).config_get('bind')
    assert (addresses, sockets, bind) == (('127.0.0.1',), ('',), {'bind': '127.0.0.1'})


def test_embedded_server_skips_a_port_already_taken(
    tmp_path: Path, listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the first port offered is one something else listens on (as when another program wins the race)
    offered = iter([listener])
    real_free_port = process.free_port
    monkeypatch.setattr(process, 'free_port', lambda: next(offered, None) or real_free_port())
    server = EmbeddedRedis(tmp_path / 'redis')
    # When the server starts
    try:
        port = server.start()
        # Then it runs on another port, and the taken one still belongs to its owner
        assert port != listener
        assert redis.Redis(port=port).ping()
        assert 'Address already in use' in (tmp_path / 'redis.log').read_text()
    finally:
        server.stop()


def test_embedded_servers_keep_data_between_runs(folder: Path) -> None:
    # Given a row and a queued message written in a first run
    with embedded_servers(folder / '.fba') as first:
        with psycopg.connect(_dsn(first), autocommit=True) as conn:
            conn.execute('CREATE TABLE kept (note text)')
            conn.execute("INSERT INTO kept VALUES ('from the first run')")
        redis.Redis(port=int(first['REDIS_PORT'])).rpush('queued', 'message')
    # When the servers start again on the same folder
    with embedded_servers(folder / '.fba') as second:
        with psycopg.connect(_dsn(second)) as conn:
            rows = conn.execute('SELECT note FROM kept').fetchall()
        queued = redis.Redis(port=int(second['REDIS_PORT'])).lrange('queued', 0, -1)
    # Then both are still there
    assert (rows, queued) == ([('from the first run',)], [b'message'])


def _settings(*, database_port: int, redis_port: int) -> Settings:
    return Settings(_env_file=None, DATABASE_PORT=database_port, CELERY_BROKER='redis', REDIS_PORT=redis_port)


def test_should_embed_when_nothing_is_configured_or_answering(tmp_path: Path) -> None:
    settings = _settings(database_port=process.free_port(), redis_port=process.free_port())
    assert should_embed(settings, env_file=tmp_path / '.env') is True


def test_should_embed_not_when_an_env_file_exists(tmp_path: Path) -> None:
    (tmp_path / '.env').write_text('CELERY_BROKER=redis\n')
    settings = _settings(database_port=process.free_port(), redis_port=process.free_port())
    with pytest.raises(ServicesUnavailable, match=r'Neither PostgreSQL at .* nor Redis at .* answers'):
        should_embed(settings, env_file=tmp_path / '.env')


def test_should_embed_refuses_when_only_the_database_answers(tmp_path: Path, listener: int) -> None:
    broker_port = process.free_port()
    settings = _settings(database_port=listener, redis_port=broker_port)
    with pytest.raises(ServicesUnavailable, match=rf'^Redis at 127.0.0.1:{broker_port} does not answer'):
        should_embed(settings, env_file=None)


def test_should_embed_refuses_when_only_the_broker_answers(tmp_path: Path, listener: int) -> None:
    database_port = process.free_port()
    settings = _settings(database_port=database_port, redis_port=listener)
    with pytest.raises(ServicesUnavailable, match=rf'^PostgreSQL at 127.0.0.1:{database_port} does not answer'):
        should_embed(settings, env_file=None)


def test_should_embed_not_when_both_answer(listener: int) -> None:
    assert should_embed(_settings(database_port=listener, redis_port=listener), env_file=None) is False


def test_embedded_postgres_that_cannot_start_says_why(folder: Path) -> None:
    # Given a data folder from a PostgreSQL version that does not exist
    data = folder / '.fba' / 'pgdata'
    data.mkdir(parents=True)
    (data / 'PG_VERSION').write_text('99\n')
    # When the server starts, Then one sentence names the server, the cause and the log
    with pytest.raises(EmbeddedServerFailed, match=r'^Embedded PostgreSQL exited while starting \(.+\); its log is '):
        EmbeddedPostgres(data).start()


def test_embedded_postgres_starts_below_a_private_folder(folder: Path) -> None:
    # Given a project folder only its owner may enter (as under /root)
    private = folder / 'private'
    private.mkdir(mode=0o700)
    # When the servers start there, Then PostgreSQL serves (under root it runs as `nobody`, given search permission)
    with embedded_servers(private / '.fba') as environ, psycopg.connect(_dsn(environ)) as conn:
        assert conn.execute('SELECT 1').fetchone() == (1,)
    mode = private.stat().st_mode
    assert not mode & stat.S_IROTH
    assert bool(mode & stat.S_IXOTH) == (os.geteuid() == 0)
