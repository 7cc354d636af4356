"""Proof that docker-compose.yml runs, with no Docker engine: its schema, and every fba service's own command
passing its own health check against this machine's PostgreSQL, RabbitMQ and Redis (see tests/support/compose.py).
"""

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import services
from tests.support.compose import (
    API_TOKEN,
    ENV_EXAMPLE,
    FLOWER_LOGIN,
    USER_SECRETS,
    ComposeError,
    LocalService,
    fba_services,
    healthy_once,
    interpolate,
    load,
    read_env_file,
    run_to_completion,
    service_for_run,
    start,
    user_dotenv,
    wait_healthy,
)
from tests.support.processes import Spawned, http_status

ROOT = Path(__file__).resolve().parents[2]
MIGRATE = 'fba_migrate'


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, '-m', 'check_jsonschema', '--builtin-schema', 'vendor.compose-spec', str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_compose_file_matches_the_compose_spec() -> None:
    done = validate(ROOT / 'docker-compose.yml')
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = load()
    broken['services']['fba_celery_worker']['depends_on']['fba_migrate']['condition'] = 'service_ready'
    broken['services']['fba_server']['restart'] = ['always']
    (tmp_path / 'docker-compose.yml').write_text(yaml.safe_dump(broken))
    done = validate(tmp_path / 'docker-compose.yml')
    assert done.returncode == 1
    assert 'service_ready' in done.stdout


def test_compose_file_has_what_operations_need() -> None:
    compose = load()
    services = compose['services']
    assert {'fba_postgres', 'fba_redis', 'fba_rabbitmq', 'fba_server', 'fba_celery_worker', 'fba_celery_beat'} <= set(
        services
    )
    assert 'management' in services['fba_rabbitmq']['image']
    # Flower and the API listen on the container port that is published.
    assert services['fba_celery_flower']['ports'][0].endswith(':8555:8555')
    assert user_dotenv()['FLOWER_PORT'] == '8555'
    server = services['fba_server']
    assert server['command'][server['command'].index('--port') + 1] == server['ports'][0].split(':')[-1]
    assert services['fba_server']['environment']['API_DOCS'] == 'false'
    assert 'container_name' not in services['fba_celery_worker']
    for name in fba_services(compose):
        spec = services[name]
        assert spec['env_file'] == '.env', name
        assert spec['restart'] in ('unless-stopped', 'on-failure'), name
        assert spec['deploy']['resources']['limits'], name
        if name != MIGRATE:
            assert spec['depends_on'][MIGRATE] == {'condition': 'service_completed_successfully'}, name
            assert spec['depends_on']['fba_rabbitmq'] == {'condition': 'service_healthy'}, name
            assert spec['healthcheck']['test'], name
    pools = {name for name, spec in services.items() if 'pools' in spec.get('profiles', [])}
    assert {'fba_worker_email', 'fba_worker_payment', 'fba_worker_data_sync'} == pools


SECRET_NAME = re.compile(r'PASSWORD|PASS\b|AUTH|TOKEN|SECRET', re.IGNORECASE)
REFERENCE = re.compile(r'\$\{(?P<name>[A-Za-z_]\w*)(?P<rest>[^}]*)\}')


def test_compose_file_has_no_default_secret() -> None:
    # Every secret the compose file reads is required (`${NAME:?message}`): no fallback value, none empty
    text = (ROOT / 'docker-compose.yml').read_text()
    secrets = {match['name']: match['rest'] for match in REFERENCE.finditer(text) if SECRET_NAME.search(match['name'])}
    required = {'DATABASE_PASSWORD', 'CELERY_RABBITMQ_PASSWORD', 'REDIS_PASSWORD', 'FLOWER_BASIC_AUTH', 'API_TOKENS'}
    assert required <= set(secrets)
    assert {name: rest for name, rest in secrets.items() if not rest.startswith(':?')} == {}
    # and the template a user copies to .env leaves each of them (and the RabbitMQ user) for the user to set
    example = read_env_file(ENV_EXAMPLE)
    assert {name: example[name] for name in [*secrets, 'CELERY_RABBITMQ_USERNAME']} == dict.fromkeys(
        [*secrets, 'CELERY_RABBITMQ_USERNAME'], ''
    )
    # and no secret is written into the file itself
    assert not re.search(r'^\s*\w*(PASSWORD|PASS|AUTH|TOKENS?):\s*(?!\$\{)\S', text, re.MULTILINE)


@pytest.mark.parametrize('secret', sorted(USER_SECRETS))
def test_compose_refuses_to_start_while_a_secret_is_unset(secret: str) -> None:
    # Given a .env where one of the secrets is left as .env.example has it (empty)
    dotenv = {**user_dotenv(), secret: ''}
    # When compose reads the file, Then it stops with one sentence naming the variable
    with pytest.raises(ComposeError, match=rf'^{secret}: set {secret}\b.* in \.env$'):
        interpolate((ROOT / 'docker-compose.yml').read_text(), dotenv)


def _published(dotenv: dict[str, str]) -> dict[str, list[str]]:
    return {
        name: [interpolate(str(entry), dotenv) for entry in spec.get('ports', [])]
        for name, spec in load()['services'].items()
        if spec.get('ports')
    }


def test_compose_publishes_ports_on_loopback_unless_opened() -> None:
    # By default every published port binds 127.0.0.1 only
    published = _published({name: value for name, value in user_dotenv().items() if 'PUBLISH' not in name})
    assert {'fba_server', 'fba_celery_flower', 'fba_rabbitmq'} <= set(published)
    assert {
        name: ports for name, ports in published.items() if not all(p.startswith('127.0.0.1:') for p in ports)
    } == {}
    # API_PUBLISH_ADDRESS / FLOWER_PUBLISH_ADDRESS open them, one by one
    opened = _published({**user_dotenv(), 'API_PUBLISH_ADDRESS': '0.0.0.0'})
    assert (opened['fba_server'], opened['fba_celery_flower']) == (['0.0.0.0:8000:8000'], ['127.0.0.1:8555:8555'])
    opened = _published({**user_dotenv(), 'FLOWER_PUBLISH_ADDRESS': '0.0.0.0'})
    assert (opened['fba_server'], opened['fba_celery_flower']) == (['127.0.0.1:8000:8000'], ['0.0.0.0:8555:8555'])


@pytest.fixture(scope='module')
def stack(
    test_run: services.TestRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[LocalService, Spawned]]]:
    """Every fba service of docker-compose.yml (profiles included), started after the migration step succeeded."""
    tmp = tmp_path_factory.mktemp('compose')
    migrate = service_for_run(MIGRATE, test_run, tmp)
    done = run_to_completion(migrate, tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    started: dict[str, tuple[LocalService, Spawned]] = {}
    try:
        # Like `docker compose up`: everything whose dependencies are met starts at once, then each gets healthy.
        for name in fba_services(load()):
            if name != MIGRATE:
                local = service_for_run(name, test_run, tmp)
                started[name] = (local, start(local, tmp))
        for local, spawned in started.values():
            wait_healthy(local, spawned, tmp)
        yield started
    finally:
        for _, spawned in started.values():
            spawned.stop()


def test_compose_every_fba_service_passes_its_own_health_check(
    stack: dict[str, tuple[LocalService, Spawned]],
) -> None:
    expected = {'fba_server', 'fba_celery_worker', 'fba_celery_beat', 'fba_celery_flower'}
    expected |= {'fba_worker_email', 'fba_worker_payment', 'fba_worker_data_sync'}
    assert set(stack) == expected
    for name, (local, spawned) in stack.items():
        spawned.assert_alive()
        assert healthy_once(local, spawned.log_path.parent), name


def test_compose_flower_answers_with_its_login_only(stack: dict[str, tuple[LocalService, Spawned]]) -> None:
    local, _ = stack['fba_celery_flower']
    url = f'http://127.0.0.1:{local.ports["8555"]}/tasks'
    login = {'Authorization': 'Basic ' + base64.b64encode(FLOWER_LOGIN.encode()).decode()}
    assert http_status(url) == 401
    assert http_status(url, login) == 200


def test_compose_api_hides_its_docs(stack: dict[str, tuple[LocalService, Spawned]]) -> None:
    local, _ = stack['fba_server']
    base = f'http://127.0.0.1:{local.ports["8000"]}'
    statuses = [http_status(f'{base}{path}') for path in ('/docs', '/redoc', '/openapi.json')]
    assert statuses == [404, 404, 404]
    assert http_status(f'{base}/api/v1/tasks', {'Authorization': f'Bearer {API_TOKEN}'}) == 200


def test_compose_workers_consume_their_own_queues(
    stack: dict[str, tuple[LocalService, Spawned]], celery_app: Any
) -> None:
    result = celery_app.send_task('task.add', args=[2, 3], queue='payment')
    assert result.get(timeout=60, interval=0.05) == 5
    assert result.backend.get_task_meta(result.id).get('worker', '').startswith('payment@')


def test_compose_worker_serves_metrics(stack: dict[str, tuple[LocalService, Spawned]]) -> None:
    local, _ = stack['fba_celery_worker']
    assert http_status(f'http://127.0.0.1:{local.ports["9808"]}/metrics') == 200


def test_compose_interpolation_follows_compose_rules() -> None:
    variables = {'SET': 'x', 'EMPTY': ''}
    assert interpolate('$$HOSTNAME ${SET} $SET ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}', variables) == '$HOSTNAME x x d  d'
    with pytest.raises(ComposeError, match='EMPTY: set it'):
        interpolate('${EMPTY:?set it}', variables)
