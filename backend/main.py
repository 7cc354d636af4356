"""FastAPI application factory: `uvicorn --factory backend.main:create_app` (what `fba api` runs)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from celery import Celery
from fastapi import FastAPI

from backend.app.task.api import metrics
from backend.app.task.api.errors import register_error_handlers
from backend.app.task.api.request_guard import RequestGuard
from backend.app.task.api.router import api_router
from backend.app.task.console.router import mount_console
from backend.app.task.discovery import load_task_modules
from backend.app.task.messaging.publisher import Publisher
from backend.core.conf import Settings, get_settings
from backend.database.db import dispose_async_engine

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if not app.state.settings.api_tokens:
        logger.warning(
            'API_TOKENS is empty: every route but /api/v1/monitoring/health answers 401', extra={'action': 'api'}
        )
    # One publisher for the whole app: every send shares its broker connection and its waits for confirms.
    app.state.publisher = Publisher(app.state.celery)
    try:
        yield
    finally:
        await asyncio.to_thread(app.state.publisher.close)
        await dispose_async_engine()


def create_app(settings: Settings | None = None, celery: Celery | None = None) -> FastAPI:
    """The API over `celery` (default: the process's Celery app); settings give tokens and size limits."""
    settings = settings or get_settings()
    if celery is None:
        # Imported here: the process's app reads the settings when it is built, which a caller may still set up.
        from backend.app.task.celery import task_app

        celery = task_app()
    load_task_modules()  # also for an app given here: the routes check names and arguments against the registry
    # API_DOCS=false (production, docker-compose.yml): no /docs, /redoc or /openapi.json to map the API from.
    docs = settings.API_DOCS
    app = FastAPI(
        title='fba tasks',
        version='0.1.0',
        lifespan=lifespan,
        docs_url='/docs' if docs else None,
        redoc_url='/redoc' if docs else None,
        openapi_url='/openapi.json' if docs else None,
    )
    app.state.settings = settings
    app.state.celery = celery
    app.add_middleware(RequestGuard, max_bytes=settings.API_MAX_BODY_BYTES)
    register_error_handlers(app)
    app.include_router(api_router)
    app.include_router(metrics.router)
    mount_console(app)
    return app
