"""Schedules: filtered list with next run and last outcome, create/edit forms with a live preview, actions, runs."""

from typing import Annotated, Any, Literal

from celery import Celery
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction, RowId
from backend.app.task.api.errors import status_of
from backend.app.task.console.render import render
from backend.app.task.console.routing import CheckedWrite, ConsoleRoute, SignedIn, form_fields
from backend.app.task.console.schedule_form import SPEC_FIELDS, form_of, parse, values_of
from backend.app.task.constants import API_NAME_MAX_LENGTH, API_OFFSET_MAX, API_PAGE_SIZE
from backend.app.task.errors import TaskError
from backend.app.task.schema.schedule import CreateScheduleParam, PatchScheduleParam, PreviewScheduleParam
from backend.app.task.service import overview_service, schedule_service, task_service
from backend.core.conf import get_settings
from backend.database.db import async_session

router = APIRouter(prefix='/console/schedules', route_class=ConsoleRoute)

Offset = Annotated[int, Query(ge=0, le=API_OFFSET_MAX)]
PREVIEW_COUNT = 5


@router.get('')
async def list_schedules(
    request: Request,
    session: SignedIn,
    db: CurrentSessionTransaction,
    celery: CeleryApp,
    enabled: Literal['', 'true', 'false'] = '',
    task: Annotated[str, Query(max_length=API_NAME_MAX_LENGTH)] = '',
    kind: Literal['', 'interval', 'crontab', 'clocked'] = '',
    offset: Offset = 0,
) -> Response:
    items, total = await schedule_service.get_list(
        db=db,
        app=celery,
        enabled=None if enabled == '' else enabled == 'true',
        task=task or None,
        kind=kind or None,
        limit=API_PAGE_SIZE,
        offset=offset,
    )
    outcomes = await overview_service.last_outcomes(db=db, schedule_ids=[item.id for item in items])
    filters = {'enabled': enabled, 'task': task, 'kind': kind}
    return render(
        request,
        'schedules.html',
        items=items,
        total=total,
        outcomes=outcomes,
        filters=filters,
        offset=offset,
        page_size=API_PAGE_SIZE,
    )


def _form_page(
    request: Request, celery: Celery, form: dict[str, str], errors: dict[str, str], status: int = 200, **extra: Any
) -> Response:
    names = [detail.name for detail in task_service.list_tasks(celery)]
    default_zone = get_settings().TIMEZONE
    return render(
        request, 'schedule_form.html', status, form=form, errors=errors, task_names=names, zone=default_zone, **extra
    )


@router.get('/new')
async def new_schedule(
    request: Request, session: SignedIn, celery: CeleryApp, kind: Literal['interval', 'crontab', 'clocked'] = 'interval'
) -> Response:
    form = {'kind': kind, 'interval_every': '60', 'interval_period': 'seconds', 'crontab': '*/5 * * * *'}
    return _form_page(request, celery, {**form, 'enabled': 'on'}, {})


@router.post('')
async def create_schedule(request: Request, session: CheckedWrite, celery: CeleryApp) -> Response:
    form = await form_fields(request)
    obj, errors = parse(CreateScheduleParam, form)
    if obj is not None:
        try:
            async with async_session() as db:
                created = await schedule_service.create(db=db, app=celery, obj=obj)
        except TaskError as error:
            return _form_page(request, celery, form, {}, 422, problem=error.message)
        return RedirectResponse(f'/console/schedules/{created.id}', 303)
    return _form_page(request, celery, form, errors, 422)


@router.get('/preview')
async def preview(request: Request, session: SignedIn) -> Response:
    """The next fire times of what the form holds now, in UTC and in the schedule's zone (nothing saved)."""
    form = {key: value for key, value in request.query_params.items() if key in SPEC_FIELDS}
    values, errors = values_of(form, SPEC_FIELDS)
    times, problem = [], None
    if errors:
        problem = '; '.join(f'{name}: {message}' for name, message in errors.items())
    else:
        try:
            obj = PreviewScheduleParam.model_validate({**values, 'count': PREVIEW_COUNT})
            times = schedule_service.preview(obj=obj)
        except TaskError as error:
            problem = error.message
        except ValidationError as error:
            problem = '; '.join(f'{e["loc"][0]}: {e["msg"]}' for e in error.errors())
    local_zone = form.get('timezone') or get_settings().TIMEZONE
    return render(request, '_preview.html', times=times, problem=problem, local_zone=local_zone)


async def _schedule_page(request: Request, db: AsyncSession, pk: int, celery: Celery) -> Response:
    schedule = await schedule_service.get(db=db, app=celery, pk=pk)
    runs, total = await overview_service.runs_with_states(db=db, pk=pk, limit=API_PAGE_SIZE, offset=0)
    return render(request, 'schedule.html', schedule=schedule, runs=runs, runs_total=total)


@router.get('/{pk:int}')
async def schedule_page(
    request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId
) -> Response:
    return await _schedule_page(request, db, pk, celery)


@router.get('/{pk:int}/runs')
async def schedule_runs(request: Request, session: SignedIn, db: CurrentSessionTransaction, pk: RowId) -> Response:
    runs, total = await overview_service.runs_with_states(db=db, pk=pk, limit=API_PAGE_SIZE, offset=0)
    return render(request, '_runs.html', runs=runs, runs_total=total, schedule_id=pk)


@router.get('/{pk:int}/edit')
async def edit_schedule(
    request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId
) -> Response:
    schedule = await schedule_service.get(db=db, app=celery, pk=pk)
    return _form_page(request, celery, form_of(schedule), {}, schedule_id=pk)


@router.post('/{pk:int}')
async def update_schedule(request: Request, session: CheckedWrite, celery: CeleryApp, pk: RowId) -> Response:
    form = await form_fields(request)
    # A patch of the fields the form shows: what it does not show (priority, misfire policy, …) is kept.
    obj, errors = parse(PatchScheduleParam, form)
    if obj is not None:
        try:
            async with async_session() as db:
                await schedule_service.patch(db=db, app=celery, pk=pk, obj=obj)
        except TaskError as error:
            status, message = status_of(error)
            return _form_page(request, celery, form, {}, status, problem=message, schedule_id=pk)
        return RedirectResponse(f'/console/schedules/{pk}', 303)
    return _form_page(request, celery, form, errors, 422, schedule_id=pk)


@router.post('/{pk:int}/{action}')
async def schedule_action(
    request: Request,
    session: CheckedWrite,
    pk: RowId,
    action: Literal['enable', 'disable', 'run', 'delete'],
    celery: CeleryApp,
) -> Response:
    async with async_session() as db:
        if action == 'enable':
            await schedule_service.enable(db=db, app=celery, pk=pk)
        elif action == 'disable':
            await schedule_service.disable(db=db, app=celery, pk=pk)
        elif action == 'run':
            await schedule_service.run_now(db=db, app=celery, pk=pk)
        else:
            await schedule_service.delete(db=db, pk=pk)
            return RedirectResponse('/console/schedules?notice=deleted', 303)
    return RedirectResponse(f'/console/schedules/{pk}?notice={action}', 303)


@router.get('/{pk:int}/delete')
async def confirm_delete(
    request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId
) -> Response:
    schedule = await schedule_service.get(db=db, app=celery, pk=pk)
    return render(
        request,
        'confirm.html',
        title=f'Delete schedule {schedule.name}?',
        message=f'Schedule {schedule.name} ({schedule.task}) and its {schedule.total_run_count} recorded runs '
        'will be deleted. This cannot be undone.',
        action=f'/console/schedules/{pk}/delete',
        hidden={},
        button='Delete schedule',
        back=f'/console/schedules/{pk}',
    )
