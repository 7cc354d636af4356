"""FastAPI application factory: `uvicorn --factory backend.main:create_app`."""

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title='fba tasks', version='0.1.0')
    return app
