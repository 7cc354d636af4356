"""Long-running processes: `fba worker`, `beat`, `flower`, `api` and `up` (all of them at once)."""

import os
import sys
from typing import Any

import typer

from backend.app.task.errors import TaskError
from backend.cli.common import LOG_LEVEL


def _celery() -> Any:
    from backend.app.task.celery import celery_app

    return celery_app


def worker(
    queues: str | None = typer.Option(None, '--queues', '-Q', help='Comma-separated queues to consume'),
    concurrency: int | None = typer.Option(None, '--concurrency', '-c', min=1, help='Pool size'),
    pool: str | None = typer.Option(None, '--pool', '-P', help='prefork, threads or solo'),
    loglevel: str = LOG_LEVEL,
    hostname: str | None = typer.Option(None, '--hostname', '-n', help='Node name, e.g. email@%h'),
    prefetch_multiplier: int | None = typer.Option(None, '--prefetch-multiplier', min=1),
    max_tasks_per_child: int | None = typer.Option(None, '--max-tasks-per-child', min=1),
    soft_time_limit: float | None = typer.Option(None, '--soft-time-limit', min=1),
    time_limit: float | None = typer.Option(None, '--time-limit', min=1),
    metrics_port: int | None = typer.Option(
        None,
        '--metrics-port',
        min=0,
        max=65535,
        help='Serve Prometheus metrics here (0: off; default METRICS_PORT; throughput processes: port, port + 1, ...)',
    ),
    profile: str | None = typer.Option(
        None,
        '--profile',
        help='WORKER_PROFILE: default, or throughput (solo pool, prefetch 200, no STARTED write, result batch 100)',
    ),
    result_batch: int | None = typer.Option(None, '--result-batch', min=1, max=1000, help='TASK_RESULT_BATCH'),
    track_started: bool | None = typer.Option(
        None, '--track-started/--no-track-started', help='TASK_TRACK_STARTED', show_default=False
    ),
) -> None:
    """Run a worker; options left out come from the settings.

    With the throughput profile and a concurrency above 1 it runs that many solo worker processes (named
    NAME-1@HOST, NAME-2@HOST, ...), since a solo worker runs one task at a time.
    """
    from backend.cli.pools import solo_process_count
    from backend.cli.supervisor import Supervisor
    from backend.core.conf import WORKER_PROFILES, get_settings

    if pool is not None and pool not in ('prefork', 'threads', 'solo'):
        raise typer.BadParameter('must be prefork, threads or solo', param_hint='--pool')
    if profile is not None and profile not in WORKER_PROFILES:
        raise typer.BadParameter(f'must be {" or ".join(WORKER_PROFILES)}', param_hint='--profile')
    if queues is not None and not all(name.strip() for name in queues.split(',')):
        raise typer.BadParameter('must be comma-separated queue names, none of them empty', param_hint='--queues')
    # Settings the app reads when it is built (below): through the environment, which the processes started here
    # inherit too. An option given wins over the profile, as a setting given does.
    overrides = {
        'WORKER_PROFILE': profile,
        'TASK_RESULT_BATCH': result_batch,
        'TASK_TRACK_STARTED': None if track_started is None else str(track_started).lower(),
    }
    os.environ.update({name: str(value) for name, value in overrides.items() if value is not None})
    get_settings.cache_clear()
    flags = {
        '--queues': queues,
        '--concurrency': concurrency,
        '--pool': pool,
        '--hostname': hostname,
        '--prefetch-multiplier': prefetch_multiplier,
        '--max-tasks-per-child': max_tasks_per_child,
        '--soft-time-limit': soft_time_limit,
        '--time-limit': time_limit,
    }
    processes = solo_process_count(pool, concurrency)
    if processes > 1:
        commands = solo_processes(flags, processes, loglevel, metrics_port)
        raise typer.Exit(Supervisor(commands).run())
    _serve_metrics(metrics_port)
    argv = ['worker', f'--loglevel={loglevel}']
    argv += [f'{flag}={value}' for flag, value in flags.items() if value is not None]
    _celery().worker_main(argv)


def solo_processes(
    flags: dict[str, Any], processes: int, loglevel: str, metrics_port: int | None
) -> dict[str, list[str]]:
    """`fba worker` command lines of `processes` solo workers, each named and serving metrics apart."""
    from backend.cli.pools import throughput_nodes
    from backend.core.conf import get_settings

    port = get_settings().METRICS_PORT if metrics_port is None else metrics_port
    commands = {}
    for index, node in enumerate(throughput_nodes(flags['--hostname'], processes), start=1):
        own = {**flags, '--pool': 'solo', '--concurrency': 1, '--hostname': node}
        argv = [sys.executable, '-m', 'backend.cli', 'worker', f'--loglevel={loglevel}']
        argv += [f'{flag}={value}' for flag, value in own.items() if value is not None]
        commands[f'worker-{index}'] = [*argv, f'--metrics-port={port + index - 1 if port else 0}']
    return commands


def _serve_metrics(port: int | None) -> None:
    """Start the worker's metrics server before Celery (and so prometheus_client) is imported."""
    from backend.app.task.worker import metrics_exporter
    from backend.core.conf import get_settings

    settings = get_settings()
    port = settings.METRICS_PORT if port is None else port
    if not port:
        return
    metrics_exporter.use_private_directory()
    try:
        metrics_exporter.serve(port, settings.METRICS_ADDRESS)
    except OSError as error:
        raise TaskError(f'Cannot serve metrics on {settings.METRICS_ADDRESS}:{port}: {error.strerror}.') from None


def beat(
    loglevel: str = LOG_LEVEL,
    hostname: str | None = typer.Option(None, '--hostname', '-n', help='Node name for ping, e.g. celerybeat@%h'),
) -> None:
    """Run the scheduler; it answers `celery inspect ping` while it keeps ticking (a health check)."""
    # Replaced by a lean process: this one has imported the whole command line.
    argv = [sys.executable, '-m', 'backend.cli.beat_process', f'--loglevel={loglevel}', '--remote-control']
    os.execv(sys.executable, argv + ([f'--hostname={hostname}'] if hostname else []))


def flower(
    port: int | None = typer.Option(None, '--port', min=1, max=65535, help='Default FLOWER_PORT (8555)'),
    address: str | None = typer.Option(None, '--address', help='Default FLOWER_ADDRESS'),
    dev: bool = typer.Option(False, '--dev', help='Development only: start without FLOWER_BASIC_AUTH'),
) -> None:
    """Run Flower, the monitoring UI, behind the FLOWER_BASIC_AUTH login."""
    from backend.cli.flower import flower_argv, quiet_flower_logs
    from backend.core.conf import get_settings

    settings = get_settings()
    argv = flower_argv(settings, port=port, address=address, dev=dev)
    note = quiet_flower_logs(settings)
    if note:
        typer.echo(note, err=True)
    _celery().start(argv)


def api(
    host: str = typer.Option('127.0.0.1', '--host'),
    port: int = typer.Option(8000, '--port', min=1, max=65535),
) -> None:
    """Run the HTTP API with uvicorn."""
    import uvicorn

    uvicorn.run('backend.main:create_app', factory=True, host=host, port=port)


def up(
    api_port: int = typer.Option(8000, '--api-port', min=1, max=65535),
    flower_port: int | None = typer.Option(None, '--flower-port', min=1, max=65535, help='Default FLOWER_PORT'),
    embedded: bool = typer.Option(
        False, '--embedded', help='Use embedded PostgreSQL and Redis (data in .fba/, kept between runs)'
    ),
) -> None:
    """Run API, worker, beat and Flower together; Ctrl-C (or any of them dying) stops all.

    With --embedded, or with no .env and nothing answering, embedded servers are started (and stopped) too.
    """
    from backend.cli import stack
    from backend.embedded.up import services_for_up

    with services_for_up(embedded=embedded):
        code = stack.run_stack(api_port=api_port, flower_port=flower_port)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    for command in (worker, beat, flower, api, up):
        app.command()(command)
