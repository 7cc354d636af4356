"""Schedules defined in code, in the shape of Celery's `beat_schedule`.

The database scheduler upserts these at start with source `code`; removing one
here disables it there.
"""

from typing import Any

CODE_SCHEDULES: dict[str, dict[str, Any]] = {}
