"""The one check of values that travel in task messages and land in PostgreSQL `jsonb`.

Python's `json` writes values that the other end cannot take: `NaN` and
`Infinity` (not JSON, refused by `jsonb`; a literal such as `1e400` even reads
back as infinity), text with NUL (refused by `jsonb` and `text`) or a lone
UTF-16 surrogate (refused by `jsonb`, not encodable as UTF-8), and nesting
deeper than its own recursion limit. Integers beyond the double-precision range
are refused too: `jsonb` keeps them, but every JSON reader that uses doubles
(JavaScript, Flower, most clients) turns them into infinity.

`check_storable` refuses such a value where it enters (API, CLI, `send_task`,
batch publishing, schedules), naming where it sits; `storable_copy` is the
fallback where refusing is no longer possible (a message that arrived anyway,
a dead letter): the offending values are replaced by their `repr`.
"""

import math
import re
from typing import Any

from backend.app.task.errors import PoisonValue

#: Deepest nesting accepted (Python's JSON encoder and decoder recurse once per level and stop near 1,000).
MAX_DEPTH = 200
#: Largest integer a double can hold (beyond it, `float(n)` overflows).
MAX_INT = int(1.7976931348623157e308)
_SURROGATE = re.compile('[\ud800-\udfff]')


def check_storable(value: Any, path: str = 'value') -> None:
    """Raise `PoisonValue` naming the first value under `path` that the broker or PostgreSQL cannot carry."""
    found = find_poison(value, path)
    if found is not None:
        where, problem = found
        raise PoisonValue(f'{where} {problem}; the broker and PostgreSQL cannot carry it.')


def find_poison(value: Any, path: str = 'value') -> tuple[str, str] | None:
    """(where, what is wrong) for the first unstorable value; None when all of it can be stored."""
    if _clean(value):
        return None
    item, where, depth = value, path, 0
    # Down the first unclean child at each level, building only the path that leads to the poison.
    while isinstance(item, dict | list | tuple):
        if depth >= MAX_DEPTH:
            return where, f'is nested deeper than {MAX_DEPTH} levels'
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if isinstance(item, dict):
                key_problem = _problem(key) if isinstance(key, str) else None
                if key_problem is not None:
                    return _key_path(where, key), f'is a key that {key_problem}'
            if not _clean(child, depth + 1):
                item, where = child, _key_path(where, key) if isinstance(item, dict) else f'{where}[{key}]'
                break
        depth += 1
    problem = _problem(item)
    return (where, problem) if problem is not None else None


def storable_copy(value: Any) -> Any:
    """`value` with every unstorable leaf (and key) replaced by its repr; `value` itself when nothing is wrong."""
    if _clean(value):
        return value
    return _replace(value, 0)


def storable_text(text: str) -> str:
    """Text for a PostgreSQL `text` column: NUL and lone surrogates spelled out as escapes."""
    if text.isascii() and '\x00' not in text:
        return text
    return text.replace('\x00', '\\x00').encode('utf-8', 'backslashreplace').decode('utf-8')


def _clean(value: Any, depth: int = 0) -> bool:
    """True when nothing in `value` (at `depth`) is unstorable: the fast pass, building no paths."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_DEPTH or any(isinstance(key, str) and _problem(key) for key in item):
                return False
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            if depth >= MAX_DEPTH:
                return False
            stack.extend((child, depth + 1) for child in item)
        elif _problem(item) is not None:
            return False
    return True


def _replace(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return _repr(value)[:1000]
    if isinstance(value, dict):
        return {
            (_repr(key) if isinstance(key, str) and _problem(key) else key): _replace(child, depth + 1)
            for key, child in value.items()
        }
    if isinstance(value, list | tuple):
        return [_replace(child, depth + 1) for child in value]
    return _repr(value) if _problem(value) is not None else value


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an integer with more digits than Python converts to text
        return f'<int of {value.bit_length()} bits>'


def _problem(value: Any) -> str | None:
    if isinstance(value, str):
        if value.isascii():
            return 'contains the NUL character (\\u0000)' if '\x00' in value else None
        if '\x00' in value:
            return 'contains the NUL character (\\u0000)'
        lone = _SURROGATE.search(value)
        return None if lone is None else f'contains a lone UTF-16 surrogate ({lone.group()!r})'
    if isinstance(value, float):
        return None if math.isfinite(value) else f'is not a finite number ({value!r})'
    if isinstance(value, int) and not isinstance(value, bool):
        return 'is a number beyond the double-precision range' if abs(value) > MAX_INT else None
    if isinstance(value, bytes | bytearray):
        return 'contains the NUL byte' if b'\x00' in value else None
    return None


def _key_path(where: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f'{where}.{key}'
    return f'{where}[{key!r}]'
