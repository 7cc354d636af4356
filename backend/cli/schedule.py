"""`fba schedule`: the command-line face of the schedule service (one transaction per command)."""

from typing import TYPE_CHECKING

import typer

from backend.cli.common import OFFSET, ROW_ID, in_transaction, task_app
from backend.cli.schedule_view import next_run, print_runs, print_schedules, spec_from_flags
from backend.cli.task import parse_json

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from backend.app.task.schema.schedule import GetScheduleDetail

app = typer.Typer(no_args_is_help=True)

EVERY = typer.Option(None, '--every', min=1, help='Run every SECONDS')
CRON = typer.Option(None, '--cron', help='Crontab "m h dom mon dow"')
AT = typer.Option(None, '--at', help='Run once at this ISO date-time (with offset)')
TZ = typer.Option(None, '--tz', help="IANA time zone of --cron (default the app's TIMEZONE)")


@app.command('list')
def list_(
    enabled: bool | None = typer.Option(None, '--enabled/--disabled', help='Only enabled (or disabled) ones'),
    task: str | None = typer.Option(None, '--task', help='Only schedules of this task'),
    limit: int = typer.Option(100, '--limit', min=1, max=10_000),
    offset: int = OFFSET,
) -> None:
    """Show schedules and when each runs next."""
    from backend.app.task.service import schedule_service

    items, total = in_transaction(
        lambda db: schedule_service.get_list(
            db=db, app=task_app(), enabled=enabled, task=task, limit=limit, offset=offset
        )
    )
    print_schedules(items, total)


@app.command()
def show(schedule_id: int) -> None:
    """Print one schedule as JSON (secret-looking arguments masked)."""
    from backend.app.task.service import schedule_service

    detail = in_transaction(lambda db: schedule_service.get(db=db, app=task_app(), pk=schedule_id))
    typer.echo(detail.model_dump_json(indent=2))


@app.command()
def add(
    name: str,
    task: str,
    every: int | None = EVERY,
    cron: str | None = CRON,
    at: str | None = AT,
    tz: str | None = TZ,
    args: str = typer.Option('[]', '--args', help='Positional arguments as a JSON array'),
    kwargs: str = typer.Option('{}', '--kwargs', help='Keyword arguments as a JSON object'),
    queue: str | None = typer.Option(None, '--queue', help='Queue to send to'),
    one_off: bool = typer.Option(False, '--one-off', help='Disable after the first run'),
) -> None:
    """Add schedule NAME running TASK (--every, --cron or --at)."""
    from backend.app.task.schema.schedule import CreateScheduleParam
    from backend.app.task.service import schedule_service

    spec = spec_from_flags(every, cron, at, tz)
    values = {'name': name, 'task': task, 'queue': queue, 'one_off': one_off, **spec}
    values.update(args=parse_json('--args', args, list), kwargs=parse_json('--kwargs', kwargs, dict))
    obj = schedule_service.build_param(CreateScheduleParam, values)
    detail = in_transaction(lambda db: schedule_service.create(db=db, app=task_app(), obj=obj))
    typer.echo(f'Added schedule {detail.id} ({detail.name}); {next_run(detail)}.')


@app.command()
def update(
    schedule_id: int = ROW_ID,
    every: int | None = EVERY,
    cron: str | None = CRON,
    at: str | None = AT,
    tz: str | None = TZ,
    args: str | None = typer.Option(None, '--args', help='Positional arguments as a JSON array'),
    kwargs: str | None = typer.Option(None, '--kwargs', help='Keyword arguments as a JSON object'),
    queue: str | None = typer.Option(None, '--queue', help='Queue to send to'),
) -> None:
    """Change the options given of schedule SCHEDULE_ID; the others stay."""
    from backend.app.task.schema.schedule import PatchScheduleParam
    from backend.app.task.service import schedule_service

    changes = spec_from_flags(every, cron, at, tz, required=False)
    if args is not None:
        changes['args'] = parse_json('--args', args, list)
    if kwargs is not None:
        changes['kwargs'] = parse_json('--kwargs', kwargs, dict)
    if queue is not None:
        changes['queue'] = queue

    async def work(db: 'AsyncSession') -> 'GetScheduleDetail':
        current = await schedule_service.get(db=db, app=task_app(), pk=schedule_id)
        obj = schedule_service.build_param(PatchScheduleParam, {'version': current.version, **changes})
        return await schedule_service.patch(db=db, app=task_app(), pk=schedule_id, obj=obj)

    detail = in_transaction(work)
    typer.echo(f'Updated schedule {detail.id} to version {detail.version}; {next_run(detail)}.')


@app.command()
def enable(schedule_id: int = ROW_ID) -> None:
    """Enable a schedule; it next runs at its first slot from now."""
    from backend.app.task.service import schedule_service

    detail = in_transaction(lambda db: schedule_service.enable(db=db, app=task_app(), pk=schedule_id))
    typer.echo(f'Enabled schedule {detail.id}; {next_run(detail)}.')


@app.command()
def disable(schedule_id: int = ROW_ID) -> None:
    """Disable a schedule."""
    from backend.app.task.service import schedule_service

    in_transaction(lambda db: schedule_service.disable(db=db, app=task_app(), pk=schedule_id))
    typer.echo(f'Disabled schedule {schedule_id}.')


@app.command()
def delete(schedule_id: int = ROW_ID) -> None:
    """Delete a schedule and its run history."""
    from backend.app.task.service import schedule_service

    in_transaction(lambda db: schedule_service.delete(db=db, pk=schedule_id))
    typer.echo(f'Deleted schedule {schedule_id}.')


@app.command('run-now')
def run_now(schedule_id: int = ROW_ID) -> None:
    """Send the schedule's task once now and print its task id."""
    from backend.app.task.service import schedule_service

    run = in_transaction(lambda db: schedule_service.run_now(db=db, app=task_app(), pk=schedule_id))
    typer.echo(run.task_id)


@app.command()
def runs(
    schedule_id: int = ROW_ID,
    limit: int = typer.Option(20, '--limit', min=1, max=10_000),
    offset: int = OFFSET,
) -> None:
    """Show the latest runs of a schedule."""
    from backend.app.task.service import overview_service

    items, total = in_transaction(
        lambda db: overview_service.runs_with_states(db=db, pk=schedule_id, limit=limit, offset=offset)
    )
    print_runs(items, total)


@app.command()
def preview(
    every: int | None = EVERY,
    cron: str | None = CRON,
    at: str | None = AT,
    tz: str | None = TZ,
    count: int = typer.Option(5, '--count', min=1, max=100),
) -> None:
    """Print the next fire times of a spec (UTC and local), without saving anything."""
    from backend.app.task.scheduling.cron import zone
    from backend.app.task.schema.schedule import PreviewScheduleParam
    from backend.app.task.service import schedule_service
    from backend.core.conf import get_settings

    obj = schedule_service.build_param(PreviewScheduleParam, {'count': count, **spec_from_flags(every, cron, at, tz)})
    local = zone(tz or get_settings().TIMEZONE)
    for instant in schedule_service.preview(obj=obj):
        typer.echo(f'{instant.isoformat()}  {instant.astimezone(local).isoformat()}')
