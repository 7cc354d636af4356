"""The Celery app: `celery -A backend.app.task.celery:celery_app worker` starts a worker from here.

`create_celery_app` builds an app from settings; the module's one global is the
app it returns for the process's settings. Importing this module stays light
(no task modules, no hooks), because beat and Flower import it too: a worker
imports the drop-in task modules when it starts (`celeryd_init`), and code that
needs the registry is given the app by its entry point (`publisher.task_app()`).
"""

from functools import cached_property
from typing import Any

from celery import Celery
from celery.signals import (
    before_task_publish,
    celeryd_init,
    task_prerun,
    task_received,
    worker_init,
    worker_process_shutdown,
    worker_shutdown,
)

from backend.app.task.discovery import TaskModuleError, load_task_modules
from backend.app.task.hooks.base import TaskHook
from backend.app.task.messaging.call_headers import mask_call_headers
from backend.app.task.messaging.queues import (
    inherit_parent_priority,
    invert_priority_for_redis,
    queue_config,
    redis_priority_options,
    restore_priority_on_redis,
)
from backend.app.task.utils.json_safety import check_storable
from backend.app.task.worker.event_loop import stop_event_loop
from backend.core.conf import Settings, SettingsError, get_settings, undo_celery_cli_broker_echo

RESULT_BACKEND = 'backend.app.task.results.backend:PostgresBackend'
#: The worker consumer that puts refused messages (unknown task, undecodable body) into the dead-letter store.
WORKER_CONSUMER = 'backend.app.task.reliability.rejected_messages:DeadLetterConsumer'
BEAT_SCHEDULER = 'backend.app.task.beat.scheduler:DatabaseScheduler'


class TaskApp(Celery):
    """A Celery app that carries the hooks every `TaskBase` task runs, and refuses calls it could not deliver."""

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Every send of this app passes here (`delay`, `apply_async`, signatures, retries, chord bodies).

        A call carrying a value the broker or PostgreSQL cannot carry raises
        `PoisonValue` before anything is published. (A `before_task_publish`
        receiver cannot refuse a send: Celery logs a receiver's exception and
        publishes anyway.)
        """
        check_storable(args, 'args')
        check_storable(kwargs, 'kwargs')
        # The signatures that travel inside the message (callbacks, the rest of a chain, a chord's body) too.
        for name_ in ('task_id', 'link', 'link_error', 'chain', 'chord'):
            check_storable(options.get(name_), name_)
        return super().send_task(name, args, kwargs, **options)

    @cached_property
    def hooks(self) -> list[TaskHook]:
        """Built on first use (a worker builds them as it starts), so processes that run no task never import them."""
        from backend.app.task.hooks.dead_letter import DeadLetterHook
        from backend.app.task.hooks.logging import LoggingHook
        from backend.app.task.hooks.metrics import MetricsHook

        return [LoggingHook(), MetricsHook(), DeadLetterHook()]


def _prepare_worker(instance: Any = None, **_kwargs: Any) -> None:
    """Before a worker's first message: its tasks, its hooks' signal receivers (received count), result batching,
    the look-ahead of a prefork worker's consumer, and Celery's success lines (which print return values) silenced
    before its tracers check the log level."""
    from backend.app.task.hooks.logging import quiet_celery_trace
    from backend.app.task.results.batch import enable_in_solo_worker
    from backend.app.task.results.relay import ResultRelayStep
    from backend.app.task.results.started import enable_in_prefork_worker
    from backend.app.task.worker.look_ahead import LookAheadStep, on_task_received, open_result_relay

    quiet_celery_trace()
    try:
        load_task_modules()
    except TaskModuleError as error:  # Celery logs and ignores a receiver's exception: stop the worker here
        raise SystemExit(str(error)) from None
    if isinstance(instance.app, TaskApp):
        instance.app.hooks  # noqa: B018 (built now: MetricsHook connects the received counter)
    worker_init.connect(enable_in_solo_worker, weak=False, dispatch_uid='fba.result_batch.enable')
    worker_init.connect(enable_in_prefork_worker, weak=False, dispatch_uid='fba.started_writer.enable')
    worker_init.connect(open_result_relay, weak=False, dispatch_uid='fba.result_relay.open')
    task_received.connect(on_task_received, weak=False, dispatch_uid='fba.look_ahead.received')
    instance.app.steps['consumer'].add(LookAheadStep)
    instance.app.steps['consumer'].add(ResultRelayStep)


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    if settings.CELERY_BROKER == 'redis':
        # An unacknowledged message returns to the queue after this long: it must
        # outlast the longest task, or a running task would be delivered twice.
        return {'visibility_timeout': settings.CELERY_TASK_TIME_LIMIT * 2 + 60, **redis_priority_options()}
    return {'confirm_publish': True}


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        'broker_url': settings.broker_url,
        'broker_connection_retry_on_startup': True,
        'broker_connection_timeout': 5,
        'broker_heartbeat': 30,
        'broker_pool_limit': 10,
        'broker_transport_options': broker_transport_options(settings),
        'result_backend': RESULT_BACKEND,
        'result_extended': True,
        'result_expires': settings.CELERY_RESULT_EXPIRES,
        'result_backend_always_retry': True,
        'result_backend_max_retries': 10,
        'task_serializer': 'json',
        'result_serializer': 'json',
        'accept_content': ['json'],
        'result_accept_content': ['json'],
        'timezone': settings.TIMEZONE,
        'enable_utc': True,
        'task_track_started': settings.TASK_TRACK_STARTED,
        'task_acks_late': True,
        'task_reject_on_worker_lost': True,
        # A task whose worker process dies (segfault, OOM kill) is sent again as a retry, counted against its
        # retry policy, instead of being requeued forever; when the retries run out it is dead-lettered.
        'task_retry_on_worker_lost': True,
        **queue_config(settings),
        'task_soft_time_limit': settings.CELERY_TASK_SOFT_TIME_LIMIT,
        'task_time_limit': settings.CELERY_TASK_TIME_LIMIT,
        'task_publish_retry': True,
        'task_publish_retry_policy': {'max_retries': 3, 'interval_start': 0, 'interval_step': 0.5, 'interval_max': 1},
        'worker_concurrency': settings.CELERY_WORKER_CONCURRENCY,
        'worker_pool': settings.CELERY_WORKER_POOL,
        'worker_prefetch_multiplier': settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
        'worker_max_tasks_per_child': settings.CELERY_WORKER_MAX_TASKS_PER_CHILD or None,
        'worker_cancel_long_running_tasks_on_connection_loss': True,
        # Running tasks are cancelled on a lost connection (above), so the reconnected consumer need not start with a
        # smaller prefetch; Celery's restoring of it would also overwrite the look-ahead's (`worker/look_ahead.py`).
        'worker_enable_prefetch_count_reduction': False,
        'worker_consumer': WORKER_CONSUMER,
        'beat_scheduler': BEAT_SCHEDULER,
        'beat_max_loop_interval': settings.TASK_BEAT_MAX_LOOP_INTERVAL,
    }


def create_celery_app(settings: Settings | None = None, *, current: bool = False) -> TaskApp:
    """An app for `settings`; only the process's own app (`celery_app`) is Celery's current one, which
    `@shared_task` tasks send through, so an app made for other settings never takes their calls."""
    undo_celery_cli_broker_echo()
    settings = settings or get_settings()
    app = TaskApp('fba', task_cls='backend.app.task.tasks.base:TaskBase', set_as_current=current)
    app.conf.update(celery_config(settings))
    celeryd_init.connect(_prepare_worker, weak=False, dispatch_uid='fba.prepare_worker')
    worker_process_shutdown.connect(stop_event_loop, weak=False, dispatch_uid='fba.stop_event_loop.process')
    worker_shutdown.connect(stop_event_loop, weak=False, dispatch_uid='fba.stop_event_loop.worker')
    before_task_publish.connect(mask_call_headers, weak=False, dispatch_uid='fba.mask_call_headers')
    before_task_publish.connect(inherit_parent_priority, weak=False, dispatch_uid='fba.inherit_priority')
    if settings.CELERY_BROKER == 'redis':
        before_task_publish.connect(invert_priority_for_redis, weak=False, dispatch_uid='fba.redis_priority')
        task_prerun.connect(restore_priority_on_redis, weak=False, dispatch_uid='fba.redis_priority.restore')
    return app


try:
    celery_app = create_celery_app(current=True)
except SettingsError as error:  # `celery -A …` (worker, beat, Flower, inspect): one line, no traceback
    raise SystemExit(str(error)) from None


def task_app() -> TaskApp:
    """The process's app with the drop-in task modules imported, for the entry points that build what the services
    are given (the API's startup, the CLI, beat's setup); services never look it up themselves."""
    load_task_modules()
    return celery_app
