"""What every console route shares: the session check, CSRF on writes, and errors shown as pages.

`ConsoleRoute` turns the exceptions a handler raises into HTML: no session goes to
the sign-in page, a refused write is a 403 page, a domain error is a page with
the status and sentence the API would give (from the API's one table).
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse

from backend.app.task.api.deps import get_settings_of_app
from backend.app.task.api.errors import status_of
from backend.app.task.api.request_guard import NUL_MESSAGE
from backend.app.task.console.render import SECURITY_HEADERS, render
from backend.app.task.console.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    ConsoleSession,
    CsrfRefused,
    NotSignedIn,
    check_csrf,
    read_session,
)
from backend.core.conf import Settings

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _validation_message(error: RequestValidationError) -> str:
    return '; '.join(f'{".".join(map(str, e["loc"][1:]))}: {e["msg"]}' for e in error.errors())


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except NotSignedIn:
                target = quote(request.url.path + (f'?{request.url.query}' if request.url.query else ''), safe='')
                return RedirectResponse(f'/console/sign-in?next={target}', 303, headers=SECURITY_HEADERS)
            except CsrfRefused as error:
                return render(request, 'error.html', 403, status=403, message=str(error))
            except RequestValidationError as error:
                return render(request, 'error.html', 422, status=422, message=_validation_message(error))
            except HTTPException as error:
                return render(request, 'error.html', error.status_code, status=error.status_code, message=error.detail)
            except Exception as error:
                status, message = status_of(error)
                if status >= 500 and status != 503:
                    raise
                return render(request, 'error.html', status, status=status, message=message)
            response.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in response.headers})
            return response

        return guarded


async def _session(request: Request, settings: Annotated[Settings, Depends(get_settings_of_app)]) -> ConsoleSession:
    session = read_session(settings, request.cookies.get(SESSION_COOKIE))
    request.state.console_session = session
    return session


async def _checked_write(
    request: Request,
    session: Annotated[ConsoleSession, Depends(_session)],
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> ConsoleSession:
    check_csrf(request, session.csrf_token, csrf_token)
    return session


async def form_fields(request: Request) -> dict[str, str]:
    """The submitted form's text fields (a console form has no file inputs); NUL is refused, as PostgreSQL would."""
    fields = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    for key, value in fields.items():
        if '\x00' in value:
            raise HTTPException(422, f'{key}: {NUL_MESSAGE}')
    return fields


#: A page: needs a valid session, else redirects to sign-in.
SignedIn = Annotated[ConsoleSession, Depends(_session)]
#: A write: a session, its CSRF token (form field or header), and a same-origin request.
CheckedWrite = Annotated[ConsoleSession, Depends(_checked_write)]
