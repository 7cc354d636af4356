"""The API baseline: a bare FastAPI endpoint that sends with stock Celery's `send_task`, nothing else."""

from typing import Any

from fastapi import FastAPI

from bench.stock_app import app as stock_celery

app = FastAPI()


@app.post('/send/{name}', status_code=202)
def send(name: str, body: dict[str, Any]) -> dict[str, str]:
    return {'task_id': stock_celery.send_task(name, args=body.get('args', []), kwargs=body.get('kwargs', {})).id}
