"""The broker's errors: a message that was not sent. `TaskError`s, so the API answers 503 and the CLI one sentence."""

from backend.app.task.errors import TaskError


class BrokerUnavailable(TaskError):
    """The message broker did not accept the message; nothing was sent."""


class BrokerRefused(TaskError):
    """The broker refused the message (its queue is declared with other arguments); nothing was sent."""
