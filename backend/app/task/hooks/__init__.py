"""The one extension point for cross-cutting task behaviour: `TaskHook` (`base.py`) and the three hooks every app
runs around each task, in order: a log line per start and outcome (`logging.py`), Prometheus metrics
(`metrics.py`) and the dead-letter record of a task that failed for good (`dead_letter.py`). Hooks import
reliability and utils; `tasks.base.TaskBase` runs them and `celery.TaskApp.hooks` builds the list.
"""
