"""Domain errors of the task framework. Each docstring is the default message; none knows HTTP.

Infrastructure errors live beside their infrastructure and subclass `TaskError`:
`messaging/errors.py` (the broker), `utils/outage.py` (`ServicesUnavailable`),
`backend/embedded/errors.py` (embedded servers). The API maps classes to status
codes in one table (api/errors.py) and the CLI prints the message and exits 1.
"""

from kombu.exceptions import EncodeError


class TaskError(Exception):
    """The task framework could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or '').strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class TaskNotRegistered(TaskError):
    """No task of that name is registered."""


class InvalidTaskArguments(TaskError):
    """The arguments do not fit the task's signature or payload model."""


class TaskResultNotFound(TaskError):
    """No task with that id has a result, and no schedule run, requeue or group was given that id."""


class UndeclaredQueue(TaskError):
    """No setting declares that queue (TASK_QUEUES), so no worker would read it; nothing was sent."""


class InvalidJSON(TaskError):
    """The value is not valid JSON."""


class ScheduleNotFound(TaskError):
    """No schedule has that id."""


class ScheduleConflict(TaskError):
    """The schedule was changed by someone else since it was read; reload it and try again."""


class InvalidSchedule(TaskError):
    """The schedule cannot run as given."""


class DeadLetterNotFound(TaskError):
    """No dead letter has that id."""


class DeadLetterAlreadyRequeued(TaskError):
    """The dead letter was requeued before; requeue it again only if that is meant (`--again`, `?again=true`)."""


class DeadLetterNotRequeueable(TaskError):
    """The dead letter has no task name (its message could not be decoded), so it cannot be sent again."""


class PoisonValue(TaskError, EncodeError):
    """A value the broker or PostgreSQL cannot carry (NaN, infinity, NUL, a lone surrogate, …); nothing was sent.

    Also kombu's `EncodeError`, so Celery's worker treats a task result or callback that cannot be stored or sent
    like one JSON cannot encode: the task fails with it instead of staying PENDING.
    """
