"""A remote-control command the batched-ack tests load into a worker (`--include tests.support.ack_probe`):
how many delivery tags its batched acknowledgements remember, and its resident memory."""

from typing import Any

from celery.worker.control import inspect_command

from backend.app.task.results.batch import held_tags


@inspect_command()
def fba_ack_bookkeeping(state: Any, **_: Any) -> dict[str, int]:
    with open('/proc/self/status') as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))
    return {'held_tags': held_tags(), 'rss_kb': rss_kb}
