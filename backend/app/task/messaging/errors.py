"""The broker's errors: a message that was not sent. `TaskError`s, so the API answers 503 and the CLI one sentence."""

import kombu.exceptions
import redis.exceptions

from backend.app.task.errors import TaskError

#: A send that failed with one of these may or may not have reached the queue: a socket call on a broker that
#: stopped answering timed out (reading, or writing into a full buffer), or a Redis pipeline failed part-way.
SEND_UNCERTAIN: tuple[type[BaseException], ...] = (
    TimeoutError,
    BlockingIOError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.BatchPublishError,
)


class BrokerUnavailable(TaskError):
    """The message broker did not take the message: nothing was sent, or (`SEND_UNCERTAIN`) it may have been."""


class BrokerRefused(TaskError):
    """The broker refused the message (its queue is declared with other arguments); nothing was sent."""
