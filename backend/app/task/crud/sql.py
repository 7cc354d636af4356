"""Named SQL queries, read once from `queries.sql`.

Concurrency-critical statements live as plain SQL so what runs is exactly what
is reviewed; each block opens with `-- name: <name>` and a description line.
"""

import re
from functools import cache
from importlib.resources import files

_HEADER = re.compile(r'^-- name: (\w+)\s*$', re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split a file of `-- name:` blocks into {name: sql}; duplicate names are an error."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f'query {name!r} is defined twice')
        lines = [line for line in body.strip().splitlines() if not line.startswith('--')]
        queries[name] = '\n'.join(lines).strip()
    return queries


@cache
def queries() -> dict[str, str]:
    return parse_queries(files('backend.app.task.crud').joinpath('queries.sql').read_text(encoding='utf-8'))


def query(name: str) -> str:
    return queries()[name]
