"""The one place that publishes task messages, so a broker failure always becomes `BrokerUnavailable`."""

from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from backend.app.task.errors import BrokerUnavailable


def publish(app: Celery, name: str, args: list[Any], kwargs: dict[str, Any], **options: Any) -> str:
    """Send one call after the broker confirmed it (bounded retry from `task_publish_retry_policy`)."""
    try:
        return app.send_task(name, args=args, kwargs=kwargs, **options).id
    except (OperationalError, ConnectionError, TimeoutError) as error:
        raise BrokerUnavailable(
            f'The broker did not accept task {name}: {type(error).__name__}. Nothing was sent.'
        ) from error
