"""Embedded PostgreSQL and Redis (the `embedded` extra): the same SQL features, loopback only, data kept."""

import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from backend.app.task.utils.outage import ServicesUnavailable
from backend.core.conf import Settings
from backend.embedded import postgres, process
from backend.embedded import redis as redis_server
from backend.embedded.errors import EmbeddedServerFailed
from backend.embedded.files import private_root, server_dir
from backend.embedded.postgres import EmbeddedPostgres
from backend.embedded.redis import EmbeddedRedis
from backend.embedded.stack import embedded_servers
from backend.embedded.up import should_embed
from tests.support.embedded import listening_port, open_tmp_dir


def _dsn(environ: dict[str, str]) -> str:
    port, database, password = environ['DATABASE_PORT'], environ['DATABASE_NAME'], environ['DATABASE_PASSWORD']
    return f'postgresql://postgres:{password}@127.0.0.1:{port}/{database}'


def _redis(environ: dict[str, str]) -> redis.Redis:
    return redis.Redis(port=int(environ['REDIS_PORT']), password=environ['REDIS_PASSWORD'])


@pytest.fixture(scope='module')
def servers_root() -> Iterator[Path]:
    with open_tmp_dir() as root:
        yield root / '.fba'


@pytest.fixture(scope='module')
def servers(servers_root: Path) -> Iterator[dict[str, str]]:
    with embedded_servers(servers_root) as environ:
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
    bind = _redis(servers).config_get('bind')
    assert (addresses, sockets, bind) == (('127.0.0.1',), ('',), {'bind': '127.0.0.1'})


def test_embedded_server_skips_a_port_already_taken(
    folder: Path, listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the first port offered is one something else listens on (as when another program wins the race)
    offered = iter([listener])
    real_free_port = process.free_port
    monkeypatch.setattr(process, 'free_port', lambda: next(offered, None) or real_free_port())
    server = EmbeddedRedis(folder / 'redis', password='skip-test-password', user=process.server_user())
    # When the server starts
    try:
        port = server.start()
        # Then it runs on another port, and the taken one still belongs to its owner
        assert port != listener
        assert redis.Redis(port=port, password='skip-test-password').ping()
        assert 'Address already in use' in (folder / 'redis.log').read_text()
    finally:
        server.stop()


def test_embedded_servers_keep_data_between_runs(folder: Path) -> None:
    # Given a row and a queued message written in a first run
    with embedded_servers(folder / '.fba') as first:
        with psycopg.connect(_dsn(first), autocommit=True) as conn:
            conn.execute('CREATE TABLE kept (note text)')
            conn.execute("INSERT INTO kept VALUES ('from the first run')")
        _redis(first).rpush('queued', 'message')
    # When the servers start again on the same folder
    with embedded_servers(folder / '.fba') as second:
        with psycopg.connect(_dsn(second)) as conn:
            rows = conn.execute('SELECT note FROM kept').fetchall()
        queued = _redis(second).lrange('queued', 0, -1)
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
        EmbeddedPostgres(data, password='unused-password', user=process.server_user()).start()


def test_embedded_servers_refuse_a_folder_their_account_cannot_reach(folder: Path) -> None:
    # Given a project folder only its owner may enter (as /root is)
    private = folder / 'private'
    private.mkdir(mode=0o700)
    before = _modes_above(private / '.fba')
    if os.geteuid() == 0:
        # When root starts the servers there, Then they are refused in one sentence naming the closed folder
        expected = rf"^Embedded servers run as 'nobody' under root and cannot reach .* because {private} is closed "
        with pytest.raises(EmbeddedServerFailed, match=expected), embedded_servers(private / '.fba'):
            pass
    else:
        # When the owner starts them there, Then they serve (they run as the owner)
        with embedded_servers(private / '.fba') as environ, psycopg.connect(_dsn(environ)) as conn:
            assert conn.execute('SELECT 1').fetchone() == (1,)
    # And no folder above .fba/ changed its permissions
    assert _modes_above(private / '.fba') == before


def _modes_above(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode for folder in path.parents}


def test_embedded_servers_change_no_folder_above_their_own(folder: Path) -> None:
    # Given the modes of every folder above a new .fba/
    before = _modes_above(folder / '.fba')
    # When the servers start and stop there
    with embedded_servers(folder / '.fba'):
        during = _modes_above(folder / '.fba')
    # Then none of them changed
    assert before == during == _modes_above(folder / '.fba')


def test_embedded_servers_keep_their_files_private(servers: dict[str, str], servers_root: Path) -> None:
    # .fba/ is ours (under root its group is the servers' account, which may only pass through it)
    expected_root = 0o700 if os.geteuid() != 0 else 0o710
    assert stat.S_IMODE(servers_root.stat().st_mode) == expected_root
    for log in ('postgres.log', 'redis.log'):
        assert stat.S_IMODE((servers_root / log).stat().st_mode) == 0o600, log
    # and nothing in it is open to other users: no file or folder with any permission for "others"
    opened = [path for path in [servers_root, *servers_root.rglob('*')] if path.lstat().st_mode & stat.S_IRWXO]
    assert opened == []


def test_embedded_servers_do_not_run_as_root(servers: dict[str, str], servers_root: Path) -> None:
    postmaster = int((servers_root / 'pgdata' / 'postmaster.pid').read_text().split()[0])
    redis_pid = int(_redis(servers).info('server')['process_id'])
    uids = {_uid(postmaster), _uid(redis_pid)}
    assert 0 not in uids
    if os.geteuid() == 0:
        assert uids == {pwd.getpwnam('nobody').pw_uid}


def _uid(pid: int) -> int:
    status = Path(f'/proc/{pid}/status').read_text()
    return int(next(line for line in status.splitlines() if line.startswith('Uid:')).split()[1])


OTHER_USERS = ['nobody', '12345']


@pytest.mark.parametrize('other', OTHER_USERS)
def test_another_os_user_cannot_log_into_postgres(servers: dict[str, str], other: str) -> None:
    # Given another OS user who knows the port (every local user can list listening sockets)
    psql = [postgres.binary('psql'), '-h', '127.0.0.1', '-p', servers['DATABASE_PORT'], '-U', 'postgres', '-w']
    query = [*psql, '-d', 'postgres', '-Atc', 'SELECT current_user']
    # When they connect without the password, or with a wrong one, Then they are refused
    without = _as_user(other, query)
    assert without.returncode != 0
    assert 'no password supplied' in without.stderr
    wrong = _as_user(other, query, env={'PGPASSWORD': 'guessed-password'})
    assert wrong.returncode != 0
    assert 'password authentication failed' in wrong.stderr
    # (the same command with the password gets in: the refusal is the password's doing)
    right = _as_user(other, query, env={'PGPASSWORD': servers['DATABASE_PASSWORD']})
    assert (right.returncode, right.stdout.strip()) == (0, 'postgres')


@pytest.mark.parametrize('other', OTHER_USERS)
def test_another_os_user_cannot_use_redis(servers: dict[str, str], other: str) -> None:
    cli = [str(Path(redis_server.binary()).with_name('redis-cli')), '-h', '127.0.0.1', '-p', servers['REDIS_PORT']]
    # When another OS user sends commands without the password, or with a wrong one, Then Redis refuses them
    without = _as_user(other, [*cli, 'CONFIG', 'SET', 'dir', '/tmp'])
    assert 'NOAUTH' in without.stdout + without.stderr
    wrong = _as_user(other, [*cli, '--no-auth-warning', '-a', 'guessed-password', 'PING'])
    assert 'WRONGPASS' in wrong.stdout + wrong.stderr
    # (the same command with the password gets in)
    right = _as_user(other, [*cli, '--no-auth-warning', '-a', servers['REDIS_PASSWORD'], 'PING'])
    assert right.stdout.strip() == 'PONG'


def _as_user(user: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`argv` run as OS user `user` (a name or a bare uid with no account), with no supplementary groups."""
    if os.geteuid() != 0:
        pytest.skip('switching to another OS user needs root')
    group = 'nogroup' if user == 'nobody' else user
    switch = ['setpriv', f'--reuid={user}', f'--regid={group}', '--clear-groups']
    environ = {'PATH': os.environ['PATH'], 'HOME': '/', **(env or {})}
    return subprocess.run([*switch, *argv], capture_output=True, text=True, timeout=30, cwd='/', env=environ)


def test_a_cluster_made_with_trust_authentication_is_secured_on_start(folder: Path) -> None:
    # Given a data folder initialised by an older version: anyone who reaches the port logs in (trust)
    root, user = folder / '.fba', process.server_user()
    private_root(root, user)
    server_dir(root / 'pgdata', user)
    initdb = [postgres.binary('initdb'), '-D', str(root / 'pgdata'), '-U', 'postgres', '--auth=trust']
    subprocess.run([*initdb, '--no-instructions'], check=True, capture_output=True, cwd=root, **process.run_as(user))
    # When the servers start on it
    with embedded_servers(root) as environ:
        port = environ['DATABASE_PORT']
        # Then a login without the password is refused, and ours works
        with pytest.raises(psycopg.OperationalError, match='no password supplied'):
            psycopg.connect(f'postgresql://postgres@127.0.0.1:{port}/postgres')
        with psycopg.connect(_dsn(environ)) as conn:
            assert conn.execute('SELECT 1').fetchone() == (1,)
    assert 'trust' not in [line.split()[-1] for line in _hba_rules(root / 'pgdata' / 'pg_hba.conf')]


def _hba_rules(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith('#')]


def test_a_data_folder_left_open_by_an_older_version_is_made_private(folder: Path) -> None:
    # Given a .fba/ as older versions left it: open to all, a world-readable log, Redis data of another account
    root = folder / '.fba'
    (root / 'redis' / 'appendonlydir').mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    (root / 'redis' / 'appendonlydir' / 'old.aof').write_text('')
    (root / 'postgres.log').write_text('old lines\n')
    (root / 'postgres.log').chmod(0o644)
    # When the servers start on it
    with embedded_servers(root) as environ:
        assert _redis(environ).ping()
        # Then nothing in it is open to other users, and the servers' account owns the Redis data
        assert [path for path in [root, *root.rglob('*')] if path.lstat().st_mode & stat.S_IRWXO] == []
        owner = os.geteuid() if os.geteuid() != 0 else pwd.getpwnam('nobody').pw_uid
        assert {path.lstat().st_uid for path in (root / 'redis').rglob('*')} == {owner}
