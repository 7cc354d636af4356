"""`fba workers --pools 'email:2,payment:1'`: one worker per feature queue, each with its own pool size.

Each pool is a separate `fba worker --queues NAME --concurrency N --hostname NAME@%h`
process under the supervisor, so a slow feature cannot starve another, and
Ctrl-C (or one worker dying) stops them all.
"""

import re
import sys

import typer
from celery.utils.nodenames import nodesplit

from backend.app.task.errors import TaskError
from backend.cli.common import LOG_LEVEL
from backend.cli.supervisor import Supervisor
from backend.core.conf import get_settings

POOL = re.compile(r'^(?P<queues>[\w.:-]+(?:\+[\w.:-]+)*):(?P<concurrency>[1-9]\d*)$')


def parse_pools(text: str) -> dict[str, tuple[str, int]]:
    """'email:2,reports+exports:1' -> {'email': ('email', 2), 'reports': ('reports,exports', 1)}."""
    pools: dict[str, tuple[str, int]] = {}
    for part in (item.strip() for item in text.split(',')):
        match = POOL.match(part)
        if match is None:
            raise TaskError(
                f'--pools item {part!r} is not QUEUE:CONCURRENCY (e.g. email:2, or reports+exports:1 for two queues).'
            )
        queues = match['queues'].split('+')
        if queues[0] in pools:
            raise TaskError(f'--pools names the pool {queues[0]!r} twice.')
        pools[queues[0]] = (','.join(queues), int(match['concurrency']))
    return pools


def worker_commands(pools: dict[str, tuple[str, int]], loglevel: str) -> dict[str, list[str]]:
    fba = [sys.executable, '-m', 'backend.cli', 'worker', f'--loglevel={loglevel}']
    return {
        name: [*fba, f'--queues={queues}', f'--concurrency={concurrency}', f'--hostname={name}@%h']
        for name, (queues, concurrency) in pools.items()
    }


def workers(
    pools: str = typer.Option(..., '--pools', help="QUEUE:CONCURRENCY pairs, e.g. 'email:2,payment:1,data_sync:4'"),
    loglevel: str = LOG_LEVEL,
) -> None:
    """Run one worker per pool (its queues, its concurrency) until Ctrl-C or one of them stops."""
    raise typer.Exit(Supervisor(worker_commands(parse_pools(pools), loglevel)).run())


def solo_process_count(pool: str | None = None, concurrency: int | None = None) -> int:
    """How many solo processes `fba worker` runs for the throughput profile (its options over the settings);
    0 when it runs one worker as asked."""
    settings = get_settings()
    processes = concurrency or settings.CELERY_WORKER_CONCURRENCY
    solo = (pool or settings.CELERY_WORKER_POOL) == 'solo'
    return processes if settings.WORKER_PROFILE == 'throughput' and solo and processes > 1 else 0


def throughput_nodes(hostname: str | None, processes: int) -> list[str]:
    """Node names of those processes: NAME-1@HOST, NAME-2@HOST, ... for `--hostname NAME@HOST`, read as Celery
    reads it (no `@`: a host; no name: celery)."""
    name, host = nodesplit(hostname or '')
    return [f'{name or "celery"}-{index}@{host or "%h"}' for index in range(1, processes + 1)]
