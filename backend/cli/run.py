"""Long-running processes: `fba worker`, `beat`, `flower`, `api` and `up` (all of them at once)."""

import sys
from typing import Any

import typer

from backend.cli.supervisor import Supervisor


def _celery() -> Any:
    from backend.app.task.celery import celery_app

    return celery_app


def worker(
    queues: str | None = typer.Option(None, '--queues', '-Q', help='Comma-separated queues to consume'),
    concurrency: int | None = typer.Option(None, '--concurrency', '-c', min=1, help='Pool size'),
    pool: str | None = typer.Option(None, '--pool', '-P', help='prefork, threads or solo'),
    loglevel: str = typer.Option('INFO', '--loglevel', '-l'),
    hostname: str | None = typer.Option(None, '--hostname', '-n', help='Node name, e.g. email@%h'),
    prefetch_multiplier: int | None = typer.Option(None, '--prefetch-multiplier', min=1),
    max_tasks_per_child: int | None = typer.Option(None, '--max-tasks-per-child', min=1),
    soft_time_limit: float | None = typer.Option(None, '--soft-time-limit', min=1),
    time_limit: float | None = typer.Option(None, '--time-limit', min=1),
) -> None:
    """Run a worker; options left out come from the settings."""
    if pool is not None and pool not in ('prefork', 'threads', 'solo'):
        raise typer.BadParameter('must be prefork, threads or solo', param_hint='--pool')
    argv = ['worker', f'--loglevel={loglevel}']
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
    argv += [f'{flag}={value}' for flag, value in flags.items() if value is not None]
    _celery().worker_main(argv)


def beat(loglevel: str = typer.Option('INFO', '--loglevel', '-l')) -> None:
    """Run the scheduler."""
    _celery().start(['beat', f'--loglevel={loglevel}'])


def flower(
    port: int = typer.Option(8555, '--port', min=1, max=65535),
    address: str = typer.Option('127.0.0.1', '--address'),
) -> None:
    """Run Flower, the monitoring UI."""
    _celery().start(['flower', f'--port={port}', f'--address={address}'])


def api(
    host: str = typer.Option('127.0.0.1', '--host'),
    port: int = typer.Option(8000, '--port', min=1, max=65535),
) -> None:
    """Run the HTTP API with uvicorn."""
    import uvicorn

    uvicorn.run('backend.main:create_app', factory=True, host=host, port=port)


def up() -> None:
    """Run API, worker, beat and Flower together; Ctrl-C (or any of them dying) stops all."""
    fba = [sys.executable, '-m', 'backend.cli']
    supervisor = Supervisor(
        {
            'api': [*fba, 'api'],
            'worker': [*fba, 'worker'],
            'beat': [*fba, 'beat'],
            'flower': [*fba, 'flower'],
        }
    )
    raise typer.Exit(supervisor.run())


def register(app: typer.Typer) -> None:
    for command in (worker, beat, flower, api, up):
        app.command()(command)
