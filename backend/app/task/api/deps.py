"""Dependencies every router shares: bearer-token auth, the request's transaction, the Celery app and
its publisher, paging."""

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Annotated, NamedTuple, TypeVar

from celery import Celery
from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.constants import API_ID_MAX, API_OFFSET_MAX, API_PAGE_SIZE, API_PAGE_SIZE_MAX
from backend.app.task.messaging.publisher import Publisher
from backend.app.task.schema.common import PageDetail
from backend.core.conf import Settings
from backend.database.db import async_session

T = TypeVar('T')

bearer = HTTPBearer(auto_error=False, description='One of the tokens in the API_TOKENS setting')
CHALLENGE = {'WWW-Authenticate': 'Bearer'}


async def get_settings_of_app(request: Request) -> Settings:
    return request.app.state.settings


async def get_celery_app(request: Request) -> Celery:
    return request.app.state.celery


async def get_publisher(request: Request) -> Publisher:
    """The app's one publisher, built by the lifespan: concurrent sends share its connection and confirm waits."""
    return request.app.state.publisher


def _digest(token: str) -> bytes:
    # Equal-length digests keep the comparison's time independent of where, or whether, the lengths differ.
    return hashlib.sha256(token.encode()).digest()


async def require_token(
    settings: Annotated[Settings, Depends(get_settings_of_app)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """401 unless the request carries `Authorization: Bearer <one of API_TOKENS>`; tokens are never logged."""
    if credentials is None:
        raise HTTPException(401, 'Send the header Authorization: Bearer <token>.', headers=CHALLENGE)
    presented = _digest(credentials.credentials)
    accepted = False
    for token in settings.api_tokens:
        accepted |= hmac.compare_digest(presented, _digest(token))
    if not accepted:
        raise HTTPException(401, 'The bearer token is not valid.', headers=CHALLENGE)


async def _session_transaction() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        yield session


#: One transaction per request, committed when the route returns (before the answer is sent), rolled back on error.
CurrentSessionTransaction = Annotated[AsyncSession, Depends(_session_transaction, scope='function')]
CeleryApp = Annotated[Celery, Depends(get_celery_app)]
TaskPublisher = Annotated[Publisher, Depends(get_publisher)]
RowId = Annotated[int, Path(ge=1, le=API_ID_MAX, description='Row id')]
AppSettings = Annotated[Settings, Depends(get_settings_of_app)]


class PageParams(NamedTuple):
    limit: int
    offset: int


async def _page_params(
    limit: Annotated[int, Query(ge=1, le=API_PAGE_SIZE_MAX, description='Rows per page')] = API_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=API_OFFSET_MAX, description='Rows to skip')] = 0,
) -> PageParams:
    return PageParams(limit, offset)


Paging = Annotated[PageParams, Depends(_page_params)]


def page_of(items: list[T], total: int, paging: PageParams) -> PageDetail[T]:
    return PageDetail[T](items=items, total=total, limit=paging.limit, offset=paging.offset)
