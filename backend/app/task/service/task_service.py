"""Registered tasks: list them, check and send calls, read and revoke results."""

import inspect
from collections.abc import Sequence
from typing import Any

from celery import Celery, Task, states
from pydantic import ValidationError

from backend.app.task.crud import crud_result
from backend.app.task.errors import InvalidTaskArguments, PoisonValue, TaskNotRegistered, TaskResultNotFound
from backend.app.task.messaging.dispatch import publish_many
from backend.app.task.messaging.publisher import Publisher
from backend.app.task.messaging.queues import check_queue
from backend.app.task.schema.common import validation_sentence
from backend.app.task.schema.task import GetTaskDetail, GetTaskResultDetail, SendTaskOptions
from backend.app.task.utils.json_safety import check_storable
from backend.app.task.utils.pg_connection import ThreadConnection
from backend.app.task.utils.redact import redact, redact_call
from backend.app.task.utils.signature import hint_errors, parameter_names, task_signature

#: For the rare lookup of an id without a result; the result backend keeps its own connection.
_connection = ThreadConnection()


def _user_tasks(app: Celery) -> dict[str, Task]:
    return {name: t for name, t in sorted(app.tasks.items()) if not name.startswith('celery.')}


def get_task(app: Celery, name: str) -> Task:
    task = _user_tasks(app).get(name)
    if task is None:
        raise TaskNotRegistered(f'No task named {name!r} is registered.')
    return task


def list_tasks(app: Celery) -> list[GetTaskDetail]:
    return [describe(t) for t in _user_tasks(app).values()]


def describe(task: Task) -> GetTaskDetail:
    payload = getattr(task, 'payload', None)
    doc = inspect.getdoc(task)
    return GetTaskDetail(
        name=task.name,
        module=task.__module__,
        queue=getattr(task, 'queue', None),
        doc=doc.split('\n\n')[0] if doc else None,
        is_async=getattr(task, 'is_async', False),
        arg_schema=payload.model_json_schema() if payload is not None else None,
    )


def check_arguments(task: Task, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Refuse a call the task could not accept, or one the broker and PostgreSQL could not carry, naming the field."""
    check_storable(args, 'args')
    check_storable(kwargs, 'kwargs')
    payload = getattr(task, 'payload', None)
    if payload is not None and args:
        raise InvalidTaskArguments(
            f'{task.name} takes keyword arguments only (its payload model {payload.__name__}); '
            f'got {len(args)} positional.'
        )
    try:
        bound = task_signature(task).bind(*args, **kwargs)
    except TypeError as error:
        raise InvalidTaskArguments(f'Arguments do not fit task {task.name}: {error}.') from None
    if payload is not None:
        try:
            payload.model_validate(kwargs)
        except ValidationError as error:
            fields = validation_sentence(error)
            raise InvalidTaskArguments(f'Arguments do not fit task {task.name}: {fields}.') from None
    elif problems := hint_errors(task, bound.arguments):
        raise InvalidTaskArguments(f'Arguments do not fit task {task.name}: {problems}.')


async def send(
    publisher: Publisher, name: str, args: list[Any], kwargs: dict[str, Any], options: SendTaskOptions
) -> str:
    """Check the call, then send it through the shared publisher; the id returns once the broker confirmed it."""
    check_arguments(get_task(publisher.app, name), args, kwargs)
    check_queue(publisher.app, options.queue)
    return await publisher.send(name, args, kwargs, **options.model_dump(exclude_none=True))


def send_batch(
    app: Celery, name: str, items: Sequence[tuple[list[Any], dict[str, Any]]], options: SendTaskOptions
) -> list[str]:
    """Check every call first (nothing is sent if one does not fit), then send them all at once."""
    check_batch(app, name, items, options)
    return publish_many(app, name, items, **options.model_dump(exclude_none=True))


def check_batch(
    app: Celery, name: str, items: Sequence[tuple[list[Any], dict[str, Any]]], options: SendTaskOptions
) -> None:
    """Refuse a batch if any call does not fit, naming the item by its position, or if its queue is undeclared."""
    task = get_task(app, name)
    for index, (args, kwargs) in enumerate(items):
        try:
            check_arguments(task, args, kwargs)
        except (InvalidTaskArguments, PoisonValue) as error:
            raise type(error)(f'Item {index}: {error.message}') from None
    check_queue(app, options.queue)


def get_result(app: Celery, task_id: str) -> GetTaskResultDetail:
    """A task's state; an id nobody handed out is an error rather than Celery's PENDING (see `task_id_known`).

    Nothing is recorded when a call is sent, so a task sent by id and still
    waiting in its queue is not known until a worker starts it.
    """
    result = app.AsyncResult(task_id)
    meta = result.backend.get_task_meta(task_id)
    if meta['status'] == states.PENDING and not crud_result.task_id_known(_connection.get(), task_id):
        raise TaskResultNotFound(
            f'No task with id {task_id} has a result yet: it was never sent, its result expired, '
            'or it is still waiting in its queue for a worker.'
        )
    failed = meta['status'] in states.EXCEPTION_STATES
    value = meta.get('result')
    args, kwargs = _shown_call(app, meta)
    return GetTaskResultDetail(
        task_id=task_id,
        state=meta['status'],
        result=None if failed else redact(value),
        error=f'{type(value).__name__}: {value}' if failed and value is not None else None,
        traceback=meta.get('traceback'),
        name=meta.get('name'),
        worker=meta.get('worker'),
        retries=meta.get('retries'),
        queue=meta.get('queue'),
        date_done=meta.get('date_done'),
        args=args,
        kwargs=kwargs,
    )


def _shown_call(app: Celery, meta: dict[str, Any]) -> tuple[list[Any] | None, dict[str, Any] | None]:
    """The stored call with secrets masked: positional ones by the parameter names of the task, if registered."""
    args, kwargs = meta.get('args'), meta.get('kwargs')
    if args is None and kwargs is None:
        return None, None
    task = app.tasks.get(meta.get('name') or '')
    return redact_call(parameter_names(task), args or [], kwargs or {})


def revoke(app: Celery, task_id: str, *, terminate: bool) -> None:
    app.control.revoke(task_id, terminate=terminate)
