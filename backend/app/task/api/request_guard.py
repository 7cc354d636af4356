"""Refuse, before any handler runs, what no route may receive.

- A body over `API_MAX_BODY_BYTES` (declared or streamed): 413. The body is read
  up to the limit first, so a chunked upload cannot slip past a missing Content-Length.
- A NUL character in the path, the query or a JSON string: 422. PostgreSQL cannot
  store it, so it would otherwise fail deep in a query as a 500.
"""

import re
from urllib.parse import unquote

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.app.task.api.errors import envelope

# A JSON `\u0000` escape whose backslash is not itself escaped.
_JSON_NUL = re.compile(rb'(?<!\\)(?:\\\\)*\\u0000')
NUL_MESSAGE = 'Text may not contain the NUL character (\\u0000).'


class RequestGuard:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get('content-length', '')
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message['type'] == 'http.disconnect':
                return
            body += message.get('body', b'')
            if len(body) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get('more_body', False):
                break
        if _has_nul(scope, bytes(body)):
            await envelope(422, NUL_MESSAGE)(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await envelope(413, f'The request body is larger than {self.max_bytes} bytes.')(scope, receive, send)


def _has_nul(scope: Scope, body: bytes) -> bool:
    query = unquote(scope.get('query_string', b'').decode('latin-1'))
    return '\x00' in scope['path'] or '\x00' in query or b'\x00' in body or bool(_JSON_NUL.search(body))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {'type': 'http.request', 'body': body, 'more_body': False}

    return replay
