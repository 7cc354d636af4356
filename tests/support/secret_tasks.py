"""Tasks only the secret-masking tests load (`celery worker --include tests.support.secret_tasks`).

Each value below must never show outside the message body, the schedule row,
the dead letter's call (requeue sends it again) and the stored result value.
"""

from typing import Any

from celery.worker.request import Request

from backend.app.task.tasks.base import task

PASSWORD = 'pw-Hunter2-positional-7f3a'
API_KEY = 'ak-keyword-9e8d7c6b5a'
NESTED_PIN = '493817'
TOKEN = 'tok-result-5a4b3c2d1e'
SECRETS = (PASSWORD, API_KEY, NESTED_PIN, TOKEN)


@task(name='test.secret_login', bind=True)
def secret_login(
    self: Any, user: str, password: str, *, api_key: str, profile: dict[str, Any] | None = None, mode: str = 'ok'
) -> dict[str, Any]:
    """Returns a token (and the headers it was sent with); `mode='fail'` raises, `'retry'` retries once first."""
    if mode == 'retry' and not self.request.retries:
        raise self.retry(exc=ConnectionError(f'login of {user} with {password} timed out'), countdown=0)
    if mode == 'fail':
        pin = (profile or {}).get('pin')
        raise PermissionError(f'refused {user}: password {password!r}, key {api_key}, pin {pin}')
    return {'user': user, 'token': TOKEN, 'headers': [self.request.argsrepr, self.request.kwargsrepr]}


@task(name='test.secret_headers', bind=True)
def secret_headers(self: Any, previous: Any) -> list[str]:
    """The headers of this call: a chain passes the previous result (holding a token) as the first argument."""
    return [self.request.argsrepr, self.request.kwargsrepr]


class OwnRequest(Request):
    """A request class of a task's own, which Celery lets a task name."""


@task(name='test.secret_own_request', Request='tests.support.secret_tasks:OwnRequest')
def secret_own_request(user: str, password: str, *, api_key: str, profile: dict[str, Any] | None = None) -> str:
    """A task with its own request class: the worker masks what it shows of it all the same."""
    return user
