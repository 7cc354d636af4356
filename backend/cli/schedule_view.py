"""What `fba schedule` shares: one transaction per command, the when-flags, and the Rich tables."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from backend.app.task.errors import InvalidSchedule
from backend.cli.common import console

if TYPE_CHECKING:
    from backend.app.task.schema.overview import GetRunStateDetail
    from backend.app.task.schema.schedule import GetScheduleDetail


def spec_from_flags(
    every: int | None, cron: str | None, at: str | None, tz: str | None, *, required: bool = True
) -> dict[str, Any]:
    """The schedule spec the flags give; at most one of them, and (when `required`) at least one."""
    given = [flag for flag, value in (('--every', every), ('--cron', cron), ('--at', at)) if value is not None]
    if len(given) > 1:
        raise InvalidSchedule(f'Give one of --every, --cron or --at, not {" and ".join(given)}.')
    if required and not given:
        raise InvalidSchedule('Give when to run: --every SECONDS, --cron "m h dom mon dow" or --at ISO-DATETIME.')
    spec: dict[str, Any] = {'timezone': tz} if tz else {}
    if every is not None:
        spec.update(kind='interval', interval_every=every, interval_period='seconds')
    elif cron is not None:
        spec.update(kind='crontab', crontab=cron)
    elif at is not None:
        try:
            spec.update(kind='clocked', clocked_at=datetime.fromisoformat(at))
        except ValueError:
            raise InvalidSchedule(f'--at {at!r} is not an ISO date-time such as 2030-01-31T09:00:00+01:00.') from None
    return spec


def _when(detail: 'GetScheduleDetail') -> str:
    if detail.kind == 'interval':
        return f'every {detail.interval_every} {detail.interval_period}'
    if detail.kind == 'crontab':
        return f'{detail.crontab} ({detail.timezone})'
    return f'at {detail.clocked_at:%Y-%m-%d %H:%M:%S%z}' if detail.clocked_at else 'at ?'


def next_run(detail: 'GetScheduleDetail') -> str:
    """When it runs next, or why it does not: `next run None` told nothing."""
    if detail.next_run_at is not None:
        return f'next run {detail.next_run_at:%Y-%m-%d %H:%M:%S} UTC'
    return 'no next run: disabled' if not detail.enabled else 'no next run: finished'


def print_schedules(items: 'list[GetScheduleDetail]', total: int) -> None:
    table = Table()
    headings = ('id', 'name', 'task', 'when', 'enabled', 'next run (UTC)', 'beat runs', 'source', 'version', 'why off')
    for heading in headings:
        table.add_column(heading)
    for item in items:
        when_next = f'{item.next_run_at:%Y-%m-%d %H:%M:%S}' if item.next_run_at else next_run(item).split(': ')[1]
        enabled = 'yes' if item.enabled else 'no'
        row = (item.id, item.name, item.task, _when(item), enabled, when_next, item.total_run_count, item.source)
        # Text, not markup: names and reasons are data and may hold brackets.
        table.add_row(*(Text(str(value)) for value in (*row, item.version, item.disabled_reason or '')))
    console.print(table)
    console.print(
        f'{len(items)} of {total} schedules (beat runs: sent by beat; `fba schedule runs ID` lists run-now ones too)'
    )


def print_runs(items: 'list[GetRunStateDetail]', total: int) -> None:
    table = Table()
    for heading in ('scheduled for (UTC)', 'trigger', 'task id', 'sent at (UTC)', 'outcome'):
        table.add_column(heading)
    for run in items:
        dispatched = f'{run.dispatched_at:%Y-%m-%d %H:%M:%S.%f}' if run.dispatched_at else 'not yet'
        outcome = run.state if run.dispatched_at else '-'
        table.add_row(f'{run.scheduled_for:%Y-%m-%d %H:%M:%S.%f}', run.trigger, run.task_id, dispatched, outcome)
    console.print(table)
    console.print(f'{len(items)} of {total} runs')
