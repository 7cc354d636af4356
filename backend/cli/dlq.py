"""`fba dlq`: list, show, requeue and purge the dead-letter store (one transaction per command)."""

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from backend.app.task.errors import TaskError
from backend.cli.common import OFFSET, ROW_ID, console, in_transaction, task_app

if TYPE_CHECKING:
    from backend.app.task.schema.dead_letter import DeadLetterFilter

app = typer.Typer(no_args_is_help=True)

TASK = typer.Option(None, '--task', help='Exact task name')
REASON = typer.Option(
    None,
    '--reason',
    help='retries_exhausted, non_retryable, time_limit, worker_lost, unknown_task, undecodable or unstorable',
)
EXCEPTION = typer.Option(None, '--exception', help='Exception class name, e.g. KeyError')
AFTER = typer.Option(None, '--after', help='Failed at or after this ISO date-time')
BEFORE = typer.Option(None, '--before', help='Failed before this ISO date-time')
OPTIONS = {
    'task_name': '--task',
    'reason': '--reason',
    'exception_type': '--exception',
    'failed_after': '--after',
    'failed_before': '--before',
}


def _filters(
    task: str | None, reason: str | None, exception: str | None, after: str | None, before: str | None
) -> 'DeadLetterFilter':
    from pydantic import ValidationError

    from backend.app.task.schema.dead_letter import DeadLetterFilter

    try:
        return DeadLetterFilter(
            task_name=task, reason=reason, exception_type=exception, failed_after=after, failed_before=before
        )
    except ValidationError as error:
        first = error.errors()[0]
        option = OPTIONS[str(first['loc'][0])]
        raise TaskError(f'{option} {first["input"]!r} is not valid: {first["msg"]}.') from None


@app.command('list')
def list_(
    task: str | None = TASK,
    reason: str | None = REASON,
    exception: str | None = EXCEPTION,
    after: str | None = AFTER,
    before: str | None = BEFORE,
    limit: int = typer.Option(50, '--limit', min=1, max=1000),
    offset: int = OFFSET,
) -> None:
    """Show dead letters, newest failure first."""
    from backend.app.task.service import dead_letter_service

    filters = _filters(task, reason, exception, after, before)
    items, total = in_transaction(
        lambda db: dead_letter_service.get_list(db=db, app=task_app(), filters=filters, limit=limit, offset=offset)
    )
    table = Table(caption=f'{len(items)} of {total}')
    for heading in ('id', 'task', 'task id', 'reason', 'exception', 'retries', 'last failure (UTC)', 'requeued as'):
        table.add_column(heading)
    for item in items:
        exc = f'{item.exception_type}: {(item.exception_message or "")[:60]}' if item.exception_type else '-'
        table.add_row(
            str(item.id),
            item.task_name or '?',
            item.task_id or '-',
            item.reason,
            exc,
            str(item.retries),
            f'{item.last_failed_at:%Y-%m-%d %H:%M:%S}',
            item.requeued_task_id or '',
        )
    console.print(table)


@app.command()
def show(pk: int = ROW_ID) -> None:
    """Print one dead letter as JSON (secret-looking arguments masked)."""
    from backend.app.task.service import dead_letter_service

    detail = in_transaction(lambda db: dead_letter_service.get(db=db, app=task_app(), pk=pk))
    typer.echo(detail.model_dump_json(indent=2))


@app.command()
def requeue(
    pk: int = ROW_ID,
    again: bool = typer.Option(False, '--again', help='Requeue a dead letter that was requeued before'),
) -> None:
    """Send the task again with the same arguments and a new id; print the new id."""
    from backend.app.task.service import dead_letter_service

    detail = in_transaction(lambda db: dead_letter_service.requeue(db=db, app=task_app(), pk=pk, again=again))
    typer.echo(detail.requeued_task_id)


@app.command()
def purge(
    task: str | None = TASK,
    reason: str | None = REASON,
    exception: str | None = EXCEPTION,
    after: str | None = AFTER,
    before: str | None = BEFORE,
    all_: bool = typer.Option(False, '--all', help='Delete every dead letter'),
) -> None:
    """Delete the dead letters matching the filters (or, with --all, every one)."""
    from backend.app.task.service import dead_letter_service

    filters = _filters(task, reason, exception, after, before)
    if filters.is_empty() and not all_:
        raise TaskError('Give at least one filter (--task, --reason, --exception, --after, --before) or --all.')
    if all_ and not filters.is_empty():
        raise TaskError('Give either filters or --all, not both.')
    count = in_transaction(lambda db: dead_letter_service.purge(db=db, filters=filters))
    typer.echo(f'Deleted {count} dead letter{"" if count == 1 else "s"}.')
