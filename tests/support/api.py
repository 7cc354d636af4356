"""The HTTP API in-process (httpx over ASGI): settings with known tokens, clients, and the error-envelope check."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import SecretStr

from backend.core.conf import Settings, get_settings

TOKEN = 'test-token-0123456789abcdef'
OTHER_TOKEN = 'other-token-0123456789abcdef'


def api_settings(**overrides: Any) -> Settings:
    """This run's settings (database, broker) with API tokens and any overrides."""
    return get_settings().model_copy(update={'API_TOKENS': SecretStr(f'{OTHER_TOKEN},{TOKEN}'), **overrides})


@contextlib.asynccontextmanager
async def client_for(app: Any, token: str | None = TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` inside its lifespan, as uvicorn runs it (the lifespan builds the app's publisher)."""
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url='http://api', headers=headers, timeout=60) as client,
    ):
        yield client


def assert_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """The `{code, msg, data}` envelope with this status, its message holding each fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body['code'] == status
    for fragment in fragments:
        assert fragment in body['msg'], body['msg']
    return body


def dead_broker_app() -> Any:
    """A Celery app whose broker does not answer (ports nobody listens on)."""
    from backend.app.task.celery import create_celery_app

    return create_celery_app(api_settings(CELERY_RABBITMQ_PORT=1, REDIS_PORT=1))
