"""The web console over httpx: signing in as a browser would, and reading the CSRF token a page carries."""

import json
import re
import uuid
from typing import Any

import httpx
import psycopg

from tests.support.api import TOKEN

_HIDDEN = re.compile(r'name="(csrf_token|sign_in_token)" value="([^"]+)"')


def hidden_value(html: str, name: str) -> str:
    for found, value in _HIDDEN.findall(html):
        if found == name:
            return value
    raise AssertionError(f'no hidden {name} field in the page')


async def sign_in(client: httpx.AsyncClient, token: str = TOKEN, next_: str = '/console') -> httpx.Response:
    page = await client.get('/console/sign-in')
    form = {'token': token, 'sign_in_token': hidden_value(page.text, 'sign_in_token'), 'next': next_}
    return await client.post('/console/sign-in', data=form)


async def csrf_token(client: httpx.AsyncClient, page: str = '/console/tasks') -> str:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    return hidden_value(response.text, 'csrf_token')


def insert_dead_letter(pg: psycopg.Connection, queue: str, **columns: Any) -> int:
    """A dead letter of task.add (as the dead-letter hook stores one), routed to `queue` when requeued."""
    row = {
        'task_id': str(uuid.uuid4()),
        'task_name': 'task.add',
        'args': json.dumps([1, 2]),
        'kwargs': json.dumps({'api_key': 'sekret-value-42'}),
        'queue': queue,
        'reason': 'non_retryable',
        'exception_type': 'TypeError',
        'exception_message': 'add() got an unexpected keyword argument',
        'traceback': 'Traceback (most recent call last):\n  File "x.py", line 1\nTypeError: boom',
        **columns,
    }
    names = ', '.join(row)
    marks = ', '.join(['%s'] * len(row))
    found = pg.execute(f'INSERT INTO task_dead_letter ({names}) VALUES ({marks}) RETURNING id', list(row.values()))
    return int(found.fetchone()[0])  # type: ignore[index]
