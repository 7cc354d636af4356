"""Everything under `/console`: the pages, and the package's static files (CSS and JavaScript, no CDN)."""

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from backend.app.task.console.render import STATIC_DIR
from backend.app.task.console.routes import auth, dashboard, dead_letters, results, schedules, tasks

console_router = APIRouter(include_in_schema=False)
for module in (auth, dashboard, tasks, results, schedules, dead_letters):
    console_router.include_router(module.router)


def mount_console(app: FastAPI) -> None:
    app.include_router(console_router)
    app.mount('/console/static', StaticFiles(directory=STATIC_DIR), name='console-static')
