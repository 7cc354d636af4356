"""docker-compose.yml without Docker: each service's command and health check as local processes.

What a container runtime would do is done here in the open, and nothing else:
- environment = `.env` (a copy of .env.example plus the values a user must set) overlaid by the service's
  `environment`, where a value naming another service (a host name on the compose network) becomes 127.0.0.1;
- the test run's private slice (database name, vhost, Redis db; its servers' ports) replaces what it must not share;
- each service has its own network namespace in compose, so its ports (published, FLOWER_PORT, --metrics-port)
  get free local ports, replaced wherever they appear in its command, health check and environment;
- a named volume becomes a temporary folder; `$$` and `${VAR…}` are interpolated as compose does.
Everything else (the program, its flags, module paths, health-check commands) runs exactly as written.
"""

import os
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import Spawned, free_port, spawn
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / 'docker-compose.yml'
ENV_EXAMPLE = ROOT / '.env.example'
#: Settings that point at the run's own database, vhost and Redis db (from TestRun.environ()), and at its servers'
#: ports and passwords (other than the standard ones when the run uses embedded servers).
RUN_SLICE = (
    'DATABASE_NAME',
    'DATABASE_PORT',
    'DATABASE_PASSWORD',
    'CELERY_RABBITMQ_VHOST',
    'REDIS_PORT',
    'REDIS_PASSWORD',
    'CELERY_BROKER_REDIS_DATABASE',
    'FBA_ENV_FILE',
)
PORT_SETTINGS = ('FLOWER_PORT', 'METRICS_PORT')
FLOWER_LOGIN = 'admin:compose-test-Secret-7'
API_TOKEN = 'compose-test-token-0123456789'
#: The secrets a user must set in .env before `docker compose up` (it refuses to start without them),
#: here with the values this machine's services accept (its RabbitMQ has only the guest login).
USER_SECRETS = {
    'DATABASE_PASSWORD': 'only-in-compose',
    'CELERY_RABBITMQ_USERNAME': 'guest',
    'CELERY_RABBITMQ_PASSWORD': 'guest',
    'REDIS_PASSWORD': 'only-in-compose',
    'FLOWER_BASIC_AUTH': FLOWER_LOGIN,
    'API_TOKENS': API_TOKEN,
}
_VARIABLE = re.compile(r'\$\$|\$\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)')


class ComposeError(AssertionError):
    pass


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith('#') and '=' in line:
            name, _, value = line.partition('=')
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == '$$':
            return '$'
        name = match.group('braced') or match.group('bare')
        value, op, arg = variables.get(name), match.group('op'), match.group('arg')
        missing = value is None or (op is not None and op.startswith(':') and value == '')
        if op and op.endswith('?') and missing:
            raise ComposeError(f'{name}: {arg}')
        if op and op.endswith('-') and missing:
            return arg
        return value or ''

    return _VARIABLE.sub(replace, text)


def fba_services(compose: dict[str, Any]) -> list[str]:
    """The services built from this repository (the rest are images of PostgreSQL, Redis and RabbitMQ)."""
    return [name for name, spec in compose['services'].items() if 'build' in spec]


def _container_ports(spec: dict[str, Any], env: dict[str, str], command: list[str]) -> set[str]:
    ports = {str(entry).rsplit(':', 1)[-1] for entry in spec.get('ports', [])}
    ports.update(env[name] for name in PORT_SETTINGS if env.get(name, '0') != '0')
    ports.update(command[i + 1] for i, arg in enumerate(command[:-1]) if arg == '--metrics-port')
    return ports


def _remap(text: str, ports: dict[str, str]) -> str:
    for old, new in ports.items():
        text = re.sub(rf'(?<![\w.]){old}(?!\w)', new, text)
    return text


@dataclass
class LocalService:
    name: str
    command: list[str]
    healthcheck: list[str] | None
    env: dict[str, str]
    ports: dict[str, str]


def local_service(
    compose: dict[str, Any], name: str, *, dotenv: dict[str, str], run_env: dict[str, str], volumes: Path
) -> LocalService:
    spec = compose['services'][name]
    hosts = set(compose['services'])
    env = {**os.environ, **dotenv}
    for key, value in (spec.get('environment') or {}).items():
        value = interpolate(str(value), dotenv)
        env[key] = '127.0.0.1' if value in hosts else value
    env.update({key: run_env[key] for key in RUN_SLICE})
    env['CELERY_BROKER'] = run_env['CELERY_BROKER']
    for volume in spec.get('volumes', []):
        source, _, target = str(volume).partition(':')
        local = volumes / name / source
        local.mkdir(parents=True, exist_ok=True)
        env = {key: value.replace(target, str(local)) if value == target else value for key, value in env.items()}
    command = [interpolate(str(arg), dotenv) for arg in spec['command']]
    ports = {port: str(free_port()) for port in _container_ports(spec, env, command)}
    env = {key: _remap(value, ports) if key in PORT_SETTINGS else value for key, value in env.items()}
    # Inside the image the venv's commands (fba, celery) are on PATH, and HOSTNAME is the container's host name.
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}'
    env['HOSTNAME'] = socket.gethostname()
    return LocalService(
        name=name,
        command=[_remap(arg, ports) for arg in command],
        healthcheck=_healthcheck_argv(spec, dotenv, ports),
        env=env,
        ports=ports,
    )


def _healthcheck_argv(spec: dict[str, Any], dotenv: dict[str, str], ports: dict[str, str]) -> list[str] | None:
    test = (spec.get('healthcheck') or {}).get('test')
    if test is None:
        return None
    if isinstance(test, str):
        test = ['CMD-SHELL', test]
    kind, *rest = [_remap(interpolate(str(part), dotenv), ports) for part in test]
    if kind == 'CMD-SHELL':
        return ['sh', '-c', ' '.join(rest)]
    if kind == 'CMD':
        return rest
    raise ComposeError(f'unsupported health check form {kind!r}')


def user_dotenv() -> dict[str, str]:
    """The user's .env: .env.example plus the secrets the compose file's header says to set."""
    return {**read_env_file(ENV_EXAMPLE), **USER_SECRETS}


def service_for_run(name: str, test_run: Any, tmp: Path, compose: dict[str, Any] | None = None) -> LocalService:
    """Service `name` of the compose file (or of `compose`), pointed at this test run's slice."""
    run_env = {**test_run.environ(), 'CELERY_BROKER': os.environ['CELERY_BROKER']}
    return local_service(compose or load(), name, dotenv=user_dotenv(), run_env=run_env, volumes=tmp / 'volumes')


def run_to_completion(service: LocalService, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(service.command, env=service.env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def healthy_once(service: LocalService, cwd: Path, timeout: float = 30.0) -> bool:
    assert service.healthcheck is not None, f'{service.name} has no health check'
    try:
        done = subprocess.run(
            service.healthcheck, env=service.env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def start(service: LocalService, cwd: Path) -> Spawned:
    return spawn(service.name, service.command, env=service.env, cwd=cwd, log_dir=cwd)


def wait_healthy(service: LocalService, spawned: Spawned, cwd: Path, timeout: float = 150.0) -> None:
    """Run the service's own health check until it passes; fail with its log (and stop it) if it never does."""

    def healthy() -> bool:
        spawned.assert_alive()
        return healthy_once(service, cwd)

    check = shlex.join(service.healthcheck or [])
    try:
        wait_for(healthy, timeout=timeout, interval=1.0, what=f'{service.name} to pass `{check}`')
    except AssertionError as error:
        spawned.stop()
        raise ComposeError(f'{error}\n--- {service.name} log ---\n{spawned.log()[-3000:]}') from None
