"""`fba task`: the command-line face of the task service."""

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from backend.app.task.errors import InvalidJSON, TaskError
from backend.cli.common import console, task_app

app = typer.Typer(no_args_is_help=True)


def parse_json(option: str, text: str, expected: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidJSON(f'{option} is not valid JSON: {error.msg} at character {error.pos}.') from None
    if not isinstance(value, expected):
        raise InvalidJSON(f'{option} must be a JSON {"array" if expected is list else "object"}.')
    return value


@app.command('list')
def list_() -> None:
    """Show every registered task."""
    from backend.app.task.service import task_service

    table = Table()
    table.add_column('name', no_wrap=True)
    for heading in ('queue', 'async', 'doc'):
        table.add_column(heading)
    for info in task_service.list_tasks(task_app()):
        table.add_row(info.name, info.queue or 'default', 'yes' if info.is_async else '', info.doc or '')
    console.print(table)


@app.command()
def send(
    name: str,
    args: str = typer.Option('[]', '--args', help='Positional arguments as a JSON array'),
    kwargs: str = typer.Option('{}', '--kwargs', help='Keyword arguments as a JSON object'),
    countdown: float | None = typer.Option(None, help='Seconds to wait before running'),
    queue: str | None = typer.Option(None, help='Queue to send to instead of the default'),
    wait: bool = typer.Option(False, '--wait', help='Wait for the result and print it'),
    timeout: float = typer.Option(60.0, help='Seconds to wait with --wait'),
) -> None:
    """Send task NAME and print its id (or, with --wait, its result)."""
    from celery.exceptions import TimeoutError as ResultTimeout

    from backend.app.task.messaging.publisher import Publisher
    from backend.app.task.schema.task import SendTaskOptions
    from backend.app.task.service import task_service

    app_ = task_app()
    options = SendTaskOptions(countdown=countdown, queue=queue)
    call = (parse_json('--args', args, list), parse_json('--kwargs', kwargs, dict))
    with Publisher(app_) as publisher:
        task_id = asyncio.run(task_service.send(publisher, name, *call, options))
    if not wait:
        typer.echo(task_id)
        return
    try:
        value = app_.AsyncResult(task_id).get(timeout=timeout, interval=0.05, propagate=False)
    except ResultTimeout:
        raise TaskError(f'Task {task_id} did not finish within {timeout:g} s.') from None
    detail = task_service.get_result(app_, task_id)
    if detail.error:
        raise TaskError(f'Task {task_id} failed: {detail.error}')
    typer.echo(json.dumps(value))


@app.command()
def status(task_id: str) -> None:
    """Print the state and result of a task as JSON."""
    from backend.app.task.service import task_service

    typer.echo(task_service.get_result(task_app(), task_id).model_dump_json(indent=2))


@app.command()
def revoke(task_id: str, terminate: bool = typer.Option(False, '--terminate', help='Kill it if it is running')) -> None:
    """Revoke a task so no worker runs it (and, with --terminate, stop it if running)."""
    from backend.app.task.service import task_service

    task_service.revoke(task_app(), task_id, terminate=terminate)
    typer.echo(f'Revoked {task_id}.')


#: Calls per `send_batch` call from the CLI, so the progress bar moves on large batches.
CLI_BATCH_CHUNK = 1000


def parse_items(text: str) -> list[tuple[list[Any], dict[str, Any]]]:
    """`--items`: a JSON array of {"args": [...], "kwargs": {...}} objects, inline or `@path`."""
    if text.startswith('@'):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding='utf-8')
        except OSError as error:
            raise InvalidJSON(f'--items file {path} cannot be read: {error.strerror}.') from None
    items = parse_json('--items', text, list)
    calls = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not set(item) <= {'args', 'kwargs'}:
            raise InvalidJSON(f'--items item {index} must be an object with only "args" and "kwargs".')
        args, kwargs = item.get('args', []), item.get('kwargs', {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise InvalidJSON(f'--items item {index}: "args" must be an array and "kwargs" an object.')
        calls.append((args, kwargs))
    if not calls:
        raise InvalidJSON('--items is empty; give at least one call.')
    return calls


@app.command('send-batch')
def send_batch(
    name: str,
    items: str = typer.Option(..., '--items', help='JSON array of {"args": [...], "kwargs": {...}}, or @file'),
    countdown: float | None = typer.Option(None, help='Seconds to wait before running'),
    queue: str | None = typer.Option(None, help='Queue to send to instead of the default'),
) -> None:
    """Send many calls of task NAME at once and print their ids, one a line (all are checked before any is sent)."""
    from backend.app.task.schema.task import SendTaskOptions
    from backend.app.task.service import task_service

    app_ = task_app()
    calls = parse_items(items)
    options = SendTaskOptions(countdown=countdown, queue=queue)
    task_service.check_batch(app_, name, calls, options)
    task_ids: list[str] = []
    with Progress(console=Console(stderr=True), transient=True, disable=len(calls) <= CLI_BATCH_CHUNK) as progress:
        bar = progress.add_task(f'sending {name}', total=len(calls))
        for start in range(0, len(calls), CLI_BATCH_CHUNK):
            chunk = calls[start : start + CLI_BATCH_CHUNK]
            try:
                task_ids += task_service.send_batch(app_, name, chunk, options)
            except TaskError as error:
                raise TaskError(f'{error.message} {len(task_ids)} calls of earlier chunks were sent.') from None
            progress.update(bar, advance=len(chunk))
    typer.echo('\n'.join(task_ids))
