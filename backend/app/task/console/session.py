"""Console sessions and CSRF tokens, verifiable by any API process without server-side state.

A session cookie is `<expires>.<nonce>.<mac>` where the MAC is keyed by the API
token the user signed in with: removing that token from `API_TOKENS` ends its
sessions, and the cookie never reveals the token. The CSRF token is a second MAC
of the nonce under the same key (a synchroniser token tied to the session), sent
back in a hidden field or the `X-CSRF-Token` header. Writes must also come from
this origin as the browser reports it (`Sec-Fetch-Site`, `Origin`).
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from backend.app.task.constants import CONSOLE_SESSION_SECONDS
from backend.core.conf import Settings

SESSION_COOKIE = 'fba_console_session'
SIGN_IN_COOKIE = 'fba_console_sign_in'
CSRF_FIELD = 'csrf_token'
CSRF_HEADER = 'X-CSRF-Token'
COOKIE_PATH = '/console'


class NotSignedIn(Exception):
    """The request carries no valid, unexpired session."""


class CsrfRefused(Exception):
    """A write without this session's CSRF token, or sent from another site."""


@dataclass(frozen=True)
class ConsoleSession:
    nonce: str
    expires: int
    csrf_token: str


def _mac(key: str, *parts: str) -> str:
    return hmac.new(key.encode(), '|'.join(parts).encode(), hashlib.sha256).hexdigest()


def matching_token(settings: Settings, presented: str) -> str | None:
    """The configured API token equal to `presented`, compared in constant time."""
    digest = hashlib.sha256(presented.encode()).digest()
    found = None
    for token in settings.api_tokens:
        if hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest()):
            found = token
    return found


def new_session_cookie(token: str, now: float | None = None) -> str:
    expires = int(now or time.time()) + CONSOLE_SESSION_SECONDS
    nonce = secrets.token_urlsafe(18)
    return f'{expires}.{nonce}.{_mac(token, "session", str(expires), nonce)}'


def read_session(settings: Settings, cookie: str | None, now: float | None = None) -> ConsoleSession:
    """The session a cookie proves, or `NotSignedIn` (malformed, forged, expired, or its token withdrawn)."""
    expires, nonce, mac = (cookie or '').split('.', 2) if (cookie or '').count('.') == 2 else ('', '', '')
    if not expires.isdigit() or int(expires) < (now or time.time()):
        raise NotSignedIn
    for token in settings.api_tokens:
        if hmac.compare_digest(mac, _mac(token, 'session', expires, nonce)):
            return ConsoleSession(nonce=nonce, expires=int(expires), csrf_token=_mac(token, 'csrf', nonce))
    raise NotSignedIn


def check_same_origin(request: Request) -> None:
    """Refuse a write the browser says came from another site (requests without these headers are not browsers)."""
    fetch_site = request.headers.get('sec-fetch-site')
    if fetch_site is not None and fetch_site != 'same-origin':
        raise CsrfRefused(f'This form was sent from another site ({fetch_site}).')
    origin = request.headers.get('origin')
    if origin is not None and urlsplit(origin).netloc != request.headers.get('host'):
        raise CsrfRefused('This form was sent from another origin.')


def check_csrf(request: Request, expected: str, presented: str | None) -> None:
    check_same_origin(request)
    presented = presented or request.headers.get(CSRF_HEADER)
    if not presented or not hmac.compare_digest(presented, expected):
        raise CsrfRefused('The form is missing its security token or it has expired; reload the page and try again.')
