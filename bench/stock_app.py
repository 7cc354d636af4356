"""The baseline: a stock Celery app with the stock SQLAlchemy database result backend, defaults untouched."""

from celery import Celery

from backend.core.conf import get_settings, undo_celery_cli_broker_echo

# `celery worker` reads CELERY_BROKER=rabbitmq as --broker; the baseline must use the same broker URL as ours.
undo_celery_cli_broker_echo()
settings = get_settings()
app = Celery(
    'stock',
    broker=settings.broker_url,
    backend=f'db+postgresql+psycopg://{settings.DATABASE_USER}@{settings.DATABASE_HOST}:{settings.DATABASE_PORT}/'
    f'{settings.DATABASE_NAME}',
)
app.conf.update(task_serializer='json', result_serializer='json', accept_content=['json'])


@app.task(name='bench.noop')
def noop() -> None:
    """Does nothing: the benchmark measures everything around the task body."""
