"""Sign-in with an API token (exchanged for a session cookie), and sign-out."""

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response
from starlette.responses import RedirectResponse

from backend.app.task.api.deps import AppSettings
from backend.app.task.console.render import render
from backend.app.task.console.routing import CheckedWrite, ConsoleRoute
from backend.app.task.console.session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CsrfRefused,
    check_same_origin,
    matching_token,
    new_session_cookie,
)
from backend.app.task.constants import CONSOLE_SESSION_SECONDS

router = APIRouter(prefix='/console', route_class=ConsoleRoute)


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    parts = urlsplit(target or '')
    if parts.scheme or parts.netloc or not parts.path.startswith('/console') or target is None:
        return '/console'
    return target


def _sign_in_page(request: Request, next_: str, error: str | None = None, status: int = 200) -> Response:
    # Before a session exists, the form is protected by a double-submit token: a cookie and a field that must match.
    token = secrets.token_urlsafe(24)
    response = render(request, 'sign_in.html', status, next=next_, sign_in_token=token, error=error)
    secure = request.url.scheme == 'https'
    response.set_cookie(
        SIGN_IN_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite='strict', secure=secure, max_age=3600
    )
    return response


@router.get('/sign-in')
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return _sign_in_page(request, _safe_next(next))


@router.post('/sign-in')
async def sign_in(
    request: Request,
    settings: AppSettings,
    token: Annotated[str, Form(max_length=1000)] = '',
    sign_in_token: Annotated[str, Form(max_length=100)] = '',
    next: Annotated[str, Form(max_length=2000)] = '/console',
) -> Response:
    check_same_origin(request)
    cookie = request.cookies.get(SIGN_IN_COOKIE, '')
    if not sign_in_token or not hmac.compare_digest(cookie, sign_in_token):
        raise CsrfRefused('The sign-in form expired or came from elsewhere; reload the page and try again.')
    found = matching_token(settings, token.strip()) if token.strip() else None
    if found is None:
        return _sign_in_page(request, _safe_next(next), 'That token is not one of the API tokens.', 401)
    response = RedirectResponse(_safe_next(next), 303)
    response.set_cookie(
        SESSION_COOKIE,
        new_session_cookie(found),
        path=COOKIE_PATH,
        httponly=True,
        samesite='strict',
        secure=request.url.scheme == 'https',
        max_age=CONSOLE_SESSION_SECONDS,
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.post('/sign-out')
async def sign_out(session: CheckedWrite) -> Response:
    response = RedirectResponse('/console/sign-in', 303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
