"""The one table from error classes to HTTP status, and the handlers that render the `{code, msg, data}` envelope.

Domain errors carry their own sentence; infrastructure errors get a fixed one,
since their text may hold a URL or host. Nothing else is echoed back.
"""

import logging
import traceback
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as BrokerOperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from backend.app.task import errors
from backend.app.task.schema.common import ErrorDetail

logger = logging.getLogger(__name__)

#: Error class -> (status, fixed message or None to use the error's own). Looked up along the class's MRO.
ERROR_STATUS: dict[type[Exception], tuple[int, str | None]] = {
    errors.TaskNotRegistered: (404, None),
    errors.TaskResultNotFound: (404, None),
    errors.InvalidTaskArguments: (422, None),
    errors.InvalidJSON: (422, None),
    errors.UndeclaredQueue: (422, None),
    errors.BrokerUnavailable: (503, None),
    errors.BrokerRefused: (503, None),
    errors.ServicesUnavailable: (503, None),
    errors.ScheduleNotFound: (404, None),
    errors.ScheduleConflict: (409, None),
    errors.InvalidSchedule: (422, None),
    errors.DeadLetterNotFound: (404, None),
    errors.DeadLetterNotRequeueable: (409, None),
    errors.DeadLetterAlreadyRequeued: (409, None),
    errors.TaskError: (400, None),
    BrokerOperationalError: (503, 'The message broker is unreachable; try again later.'),
    sqlalchemy.exc.OperationalError: (503, 'The database is unreachable; try again later.'),
    ConnectionError: (503, 'A service the API depends on is unreachable; try again later.'),
}

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
    return 500, 'Internal server error.'


async def _mapped_error(request: Request, error: Exception) -> JSONResponse:
    status, msg = status_of(error)
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
    for cls in ERROR_STATUS:
        app.add_exception_handler(cls, _mapped_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
