"""Schedules defined in code, in Celery's `beat_schedule` shape (as the fba guide writes them).

At start beat upserts these, and the entries of `app.conf.beat_schedule`, as
rows with source `code`; removing one here disables it there. `schedule` is a
`crontab`, a `schedule`, a timedelta or seconds (int or float), and also a
crontab string "m h dom mon dow" or an aware datetime (one run). `args`,
`kwargs` and `options` (queue, routing_key, priority, expires in seconds) are
Celery's; any other key of `CreateScheduleParam` (timezone, misfire_policy,
description, ...) is accepted. An entry a schedule row cannot hold stops beat
with a sentence naming it (see scheduling/beat_entries.py).
"""

from typing import Any

from celery.schedules import crontab

LOCAL_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Celery's built-in task; it calls the result backend's cleanup(), which drops expired results.
    'celery.backend_cleanup': {
        'task': 'celery.backend_cleanup',
        'schedule': crontab(hour=4, minute=0),
        'options': {'expires': 12 * 3600},
        'description': 'Delete task results older than CELERY_RESULT_EXPIRES.',
    },
}
