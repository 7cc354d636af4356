"""Masks values whose names look secret before arguments reach a log line."""

import re
from typing import Any

SECRET_NAME = re.compile(r'pass(word|wd)?|token|secret|card|api_?key|auth|credential|private', re.IGNORECASE)
MASK = '***'


def redact(value: Any) -> Any:
    """Copy of `value` with every mapping entry under a secret-looking key masked, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and SECRET_NAME.search(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def redact_call(param_names: list[str], args: tuple | list, kwargs: dict[str, Any]) -> tuple[list, dict[str, Any]]:
    """Positional arguments are masked by their parameter name in the task's signature."""
    shown = [
        MASK if index < len(param_names) and SECRET_NAME.search(param_names[index]) else redact(arg)
        for index, arg in enumerate(args)
    ]
    return shown, redact(kwargs)
