"""Dead letters: filtered list, detail (masked), requeue one or the selected ones, purge by filter after a confirm."""

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction, RowId
from backend.app.task.console.render import render
from backend.app.task.console.routing import CheckedWrite, ConsoleRoute, SignedIn
from backend.app.task.constants import API_OFFSET_MAX, API_PAGE_SIZE
from backend.app.task.schema.dead_letter import DeadLetterFilter
from backend.app.task.service import dead_letter_service
from backend.database.db import async_session

router = APIRouter(prefix='/console/dead-letters', route_class=ConsoleRoute)

FILTER_FIELDS = tuple(DeadLetterFilter.model_fields)
DATE_FIELDS = ('failed_after', 'failed_before')
#: Most dead letters one "requeue selected" may send (a page's worth, as the list shows).
REQUEUE_MAX = 100


def _filters(source: Any) -> tuple[DeadLetterFilter, dict[str, str]]:
    """The filter in a query or form; dates typed without an offset are UTC, as the form says."""
    shown = {name: str(source.get(name) or '').strip() for name in FILTER_FIELDS}
    values: dict[str, Any] = {name: value for name, value in shown.items() if value}
    for name in DATE_FIELDS:
        if name in values:
            try:
                moment = datetime.fromisoformat(values[name])
            except ValueError:
                raise HTTPException(422, f'{name}: must be a date and time such as 2026-01-31T12:00') from None
            values[name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return DeadLetterFilter.model_validate(values), shown
    except ValidationError as error:
        raise HTTPException(422, '; '.join(f'{e["loc"][0]}: {e["msg"]}' for e in error.errors())) from None


@router.get('')
async def list_dead_letters(
    request: Request,
    session: SignedIn,
    db: CurrentSessionTransaction,
    celery: CeleryApp,
    offset: Annotated[int, Query(ge=0, le=API_OFFSET_MAX)] = 0,
) -> Response:
    filters, shown = _filters(request.query_params)
    items, total = await dead_letter_service.get_list(
        db=db, app=celery, filters=filters, limit=API_PAGE_SIZE, offset=offset
    )
    query = urlencode({key: value for key, value in shown.items() if value})
    return render(
        request,
        'dead_letters.html',
        items=items,
        total=total,
        filters=shown,
        query=query,
        offset=offset,
        page_size=API_PAGE_SIZE,
    )


@router.get('/purge')
async def confirm_purge(
    request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp
) -> Response:
    filters, shown = _filters(request.query_params)
    _, total = await dead_letter_service.get_list(db=db, app=celery, filters=filters, limit=1, offset=0)
    every = filters.is_empty()
    described = ', '.join(f'{key.replace("_", " ")} {value}' for key, value in shown.items() if value)
    return render(
        request,
        'confirm.html',
        title='Purge dead letters?',
        message=f'{total} dead letter(s) {"— every one in the store —" if every else f"matching {described}"} '
        'will be deleted. This cannot be undone.',
        action='/console/dead-letters/purge',
        hidden={**{key: value for key, value in shown.items() if value}, **({'all': 'on'} if every else {})},
        button=f'Purge {total} dead letter(s)',
        back='/console/dead-letters?' + urlencode({key: value for key, value in shown.items() if value}),
    )


@router.post('/purge')
async def purge(request: Request, session: CheckedWrite) -> Response:
    form = await request.form()
    filters, _ = _filters(form)
    if filters.is_empty() and form.get('all') != 'on':
        raise HTTPException(422, 'Give at least one filter, or confirm purging every dead letter.')
    async with async_session() as db:
        purged = await dead_letter_service.purge(db=db, filters=filters)
    return RedirectResponse(f'/console/dead-letters?notice=purged&count={purged}', 303)


def _selected(form: FormData) -> list[int]:
    ids = [value for value in form.getlist('ids') if isinstance(value, str)]
    if not ids:
        raise HTTPException(422, 'ids: select at least one dead letter to requeue.')
    if len(ids) > REQUEUE_MAX or not all(value.isdigit() for value in ids):
        raise HTTPException(422, f'ids: give at most {REQUEUE_MAX} dead letter ids (whole numbers).')
    return [int(value) for value in ids]


def _kept_filters(form: FormData) -> str:
    """The list's filters, sent back with the form, so the redirect shows the same list."""
    kept = parse_qsl(str(form.get('filters') or ''))
    return urlencode([(key, value) for key, value in kept if key in FILTER_FIELDS])


@router.post('/requeue')
async def requeue_selected(request: Request, session: CheckedWrite, celery: CeleryApp) -> Response:
    form = await request.form()
    ids = _selected(form)
    for pk in ids:  # one transaction each: a letter sent again stays marked even if a later one fails
        async with async_session() as db:
            await dead_letter_service.requeue(db=db, pk=pk, app=celery, again=True)
    kept = _kept_filters(form)
    return RedirectResponse(f'/console/dead-letters?{kept + "&" if kept else ""}notice=requeued&count={len(ids)}', 303)


@router.get('/{pk:int}')
async def dead_letter_page(
    request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId
) -> Response:
    return render(request, 'dead_letter.html', item=await dead_letter_service.get(db=db, app=celery, pk=pk))


@router.post('/{pk:int}/requeue')
async def requeue_one(request: Request, session: CheckedWrite, celery: CeleryApp, pk: RowId) -> Response:
    async with async_session() as db:
        await dead_letter_service.requeue(db=db, pk=pk, app=celery, again=True)
    return RedirectResponse(f'/console/dead-letters/{pk}?notice=requeued', 303)
