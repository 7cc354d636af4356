"""Registered tasks with their docs and argument fields, and sending a call from the generated form."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError
from starlette.responses import RedirectResponse

from backend.app.task.api.deps import CeleryApp, TaskPublisher
from backend.app.task.console.render import render
from backend.app.task.console.routing import CheckedWrite, ConsoleRoute, SignedIn, form_fields
from backend.app.task.console.task_form import fields_of, read_call
from backend.app.task.constants import API_NAME_MAX_LENGTH
from backend.app.task.errors import InvalidTaskArguments
from backend.app.task.schema.task import SendOptionsParam
from backend.app.task.service import task_service

router = APIRouter(prefix='/console/tasks', route_class=ConsoleRoute)

TaskName = Annotated[str, Path(max_length=API_NAME_MAX_LENGTH)]
#: Send options the form offers, with the type each is read as.
OPTION_TYPES: dict[str, type] = {'queue': str, 'countdown': float, 'priority': int}


@router.get('')
async def list_tasks(request: Request, session: SignedIn, celery: CeleryApp) -> Response:
    tasks = [
        (detail, fields_of(task_service.get_task(celery, detail.name))) for detail in task_service.list_tasks(celery)
    ]
    return render(request, 'tasks.html', tasks=tasks)


@router.get('/{name}')
async def task_page(request: Request, session: SignedIn, celery: CeleryApp, name: TaskName) -> Response:
    task = task_service.get_task(celery, name)
    return render(request, 'task.html', task=task_service.describe(task), fields=fields_of(task), form={}, errors={})


def _options(form: dict[str, str], errors: dict[str, str]) -> SendOptionsParam | None:
    values: dict[str, object] = {}
    for key, kind in OPTION_TYPES.items():
        raw = form.get(key, '').strip()
        if raw:
            try:
                values[key] = kind(raw)
            except ValueError:
                errors[key] = 'must be a whole number' if kind is int else 'must be a number'
    try:
        return SendOptionsParam.model_validate(values)
    except ValidationError as error:
        errors.update({str(e['loc'][0]) if e['loc'] else '': e['msg'] for e in error.errors()})
        return None


@router.post('/{name}/send')
async def send_task(request: Request, session: CheckedWrite, publisher: TaskPublisher, name: TaskName) -> Response:
    task = task_service.get_task(publisher.app, name)
    fields = fields_of(task)
    form = await form_fields(request)
    args, kwargs, errors = read_call(task, fields, form)
    options = _options(form, errors)
    problem = None
    if not errors and options is not None:
        try:
            task_id = await task_service.send(publisher, name, args, kwargs, options.options())
        except InvalidTaskArguments as error:
            problem = error.message
        else:
            return RedirectResponse(f'/console/results/{task_id}', 303)
    detail = task_service.describe(task)
    return render(request, 'task.html', 422, task=detail, fields=fields, form=form, errors=errors, problem=problem)
