"""Jinja2 templates of the console, with the filters the pages share and the headers every page gets."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from backend.app.task.constants import CONSOLE_POLL_MS

HERE = Path(__file__).parent
STATIC_DIR = HERE / 'static'

#: Scripts and styles only from our own static files: no inline script, no CDN.
SECURITY_HEADERS = {
    'Content-Security-Policy': (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
}


def _when(value: datetime | None, zone: str | None = None) -> str:
    if value is None:
        return '—'
    shown = value.astimezone(ZoneInfo(zone) if zone else UTC)
    return shown.strftime('%Y-%m-%d %H:%M:%S %Z').strip()


def _as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


environment = Environment(loader=FileSystemLoader(HERE / 'templates'), autoescape=select_autoescape(), trim_blocks=True)
environment.filters['when'] = _when
environment.filters['as_json'] = _as_json
environment.globals['poll_ms'] = CONSOLE_POLL_MS


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page (or a fragment, for names starting with `_`) with the session's CSRF token at hand."""
    session = getattr(request.state, 'console_session', None)
    page = environment.get_template(template).render(
        request=request, csrf_token=session.csrf_token if session else None, signed_in=session is not None, **context
    )
    return HTMLResponse(page, status_code, headers=SECURITY_HEADERS)
