"""The embedded servers' error, beside them: a `TaskError`, so `fba up` ends with its one sentence."""

from backend.app.task.errors import TaskError


class EmbeddedServerFailed(TaskError):
    """An embedded server (PostgreSQL or Redis) did not start."""
