"""The one table from error classes to HTTP status, and the handlers that render the `{code, msg, data}` envelope.

Domain errors carry their own sentence. Infrastructure errors, in whatever
shape a driver raises them, are recognised by `find_outage` and get a fixed
503 sentence naming the service, since their text may hold a URL or host.
Nothing else is echoed back.
"""

import logging
import traceback
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc
from celery.exceptions import BackendError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from backend.app.task import errors
from backend.app.task.messaging.errors import BrokerRefused, BrokerUnavailable
from backend.app.task.schema.common import ErrorDetail
from backend.app.task.utils.outage import INFRASTRUCTURE_ERRORS, ServicesUnavailable, find_outage

logger = logging.getLogger(__name__)

#: Error class -> (status, fixed message or None to use the error's own). Looked up along the class's MRO.
ERROR_STATUS: dict[type[Exception], tuple[int, str | None]] = {
    errors.TaskNotRegistered: (404, None),
    errors.TaskResultNotFound: (404, None),
    errors.InvalidTaskArguments: (422, None),
    errors.InvalidJSON: (422, None),
    errors.UndeclaredQueue: (422, None),
    errors.PoisonValue: (422, None),
    BrokerUnavailable: (503, None),
    BrokerRefused: (503, None),
    ServicesUnavailable: (503, None),
    errors.ScheduleNotFound: (404, None),
    errors.ScheduleConflict: (409, None),
    errors.InvalidSchedule: (422, None),
    errors.DeadLetterNotFound: (404, None),
    errors.DeadLetterNotRequeueable: (409, None),
    errors.DeadLetterAlreadyRequeued: (409, None),
    errors.TaskError: (400, None),
}
#: The 503 sentence for each service `find_outage` can name.
OUTAGE_MESSAGES = {
    'database': 'The database is unreachable; try again later.',
    'broker': 'The message broker is unreachable; try again later.',
}
NOT_MIGRATED_MESSAGE = 'The database is not migrated; run `fba db upgrade`.'
#: Where driver errors surface: each gets `_mapped_error`, which answers 503 for an outage and 500 for the rest.
#: (A handler for `Exception` itself would answer too, but Starlette raises the error again after it.)
RAISED_BY_SERVICES: tuple[type[Exception], ...] = (*INFRASTRUCTURE_ERRORS, BackendError)

HTTP_METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')

DESCRIPTIONS = {
    400: 'Malformed request (a body that is not UTF-8 JSON) or one that cannot be carried out',
    401: 'Missing or invalid bearer token',
    404: 'No such resource',
    409: 'Conflicts with what is stored (a stale version, a taken name, nothing to requeue)',
    413: 'Request body or batch too large',
    422: 'Invalid input; the message names the field',
    503: 'Broker, database or workers unreachable',
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route documents."""
    return {code: {'model': ErrorDetail, 'description': DESCRIPTIONS[code]} for code in codes}


def envelope(status: int, msg: str, data: Any = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorDetail(code=status, msg=msg, data=data).model_dump(mode='json'), status, headers=headers)


def status_of(error: Exception) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in ERROR_STATUS:
            status, fixed = ERROR_STATUS[cls]
            return status, fixed or str(error)
    outage = find_outage(error)
    if outage is not None:
        return 503, NOT_MIGRATED_MESSAGE if outage.not_migrated else OUTAGE_MESSAGES[outage.service]
    return 500, 'Internal server error.'


async def _mapped_error(request: Request, error: Exception) -> JSONResponse:
    status, msg = status_of(error)
    if status == 500:
        return await _unexpected_error(request, error)
    if status >= 500:
        logger.warning('%s %s failed: %s', request.method, request.url.path, type(error).__name__)
    return envelope(status, msg)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = error.headers
    if error.status_code == 405:
        # Starlette names only the methods of the first route matching the path; list those of all of them.
        headers = {**(headers or {}), 'Allow': ', '.join(_allowed_methods(request))}
    return envelope(error.status_code, str(error.detail), headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, 'method': method})[0] is Match.FULL for route in request.app.router.routes
        )
    ]


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [
        {'loc': [str(part) for part in item['loc']], 'msg': item['msg'], 'type': item['type']}
        for item in error.errors()
    ]
    msg = '; '.join(f'{".".join(d["loc"])}: {d["msg"].removeprefix("Value error, ")}' for d in details)
    return envelope(422, f'Invalid input: {msg}.', details)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        # The driver's message may quote a bound value (asyncpg: "invalid input for query argument $1: '...'"):
        # the log gets the error classes, the statement (placeholders only) and where it was raised.
        logger.error(
            '%s %s raised %s (%s) on: %s\n%s',
            request.method,
            request.url.path,
            type(error).__name__,
            type(error.orig).__name__,
            error.statement,
            ''.join(traceback.format_tb(error.__traceback__)).rstrip(),
        )
    else:
        logger.error('%s %s raised', request.method, request.url.path, exc_info=error)
    return envelope(500, 'Internal server error.')


def register_error_handlers(app: FastAPI) -> None:
    for cls in (*ERROR_STATUS, *RAISED_BY_SERVICES):
        app.add_exception_handler(cls, _mapped_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
