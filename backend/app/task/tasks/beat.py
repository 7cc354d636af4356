"""Schedules defined in code, in the shape of Celery's `beat_schedule`.

The database scheduler upserts these at start with source `code`; removing one
here disables it there. `schedule` is whole seconds (or a timedelta), a crontab
string "m h dom mon dow" (in `timezone`, default the app's) or an aware datetime;
`options` may carry queue, routing_key, priority and expires (seconds). Any other
key of `CreateScheduleParam` (timezone, misfire_policy, description, ...) is accepted.
"""

from typing import Any

CODE_SCHEDULES: dict[str, dict[str, Any]] = {
    # Celery's built-in task; it calls the result backend's cleanup(), which drops expired results.
    'celery.backend_cleanup': {
        'task': 'celery.backend_cleanup',
        'schedule': '0 4 * * *',
        'options': {'expires': 12 * 3600},
        'description': 'Delete task results older than CELERY_RESULT_EXPIRES.',
    },
}
