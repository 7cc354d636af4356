"""The framework's app with a 2-second Redis visibility timeout swept every second, for fault tests that wait for
Redis to hand back the message of a killed worker (`celery -A tests.support.short_visibility_app:celery_app`)."""

from backend.app.task.celery import celery_app

celery_app.conf.broker_transport_options = {
    **celery_app.conf.broker_transport_options,
    'visibility_timeout': 2,
    'unacked_restore_interval': 1,
    'unacked_restore_throttle': 1,
}

__all__ = ['celery_app']
