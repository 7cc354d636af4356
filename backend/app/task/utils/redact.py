"""Masks values whose names look secret, wherever a call is shown: logs, message headers, API and CLI output.

A name looks secret when one of its word parts (split on `_`, `-`, `.`, spaces,
digits and camelCase) or two adjacent parts together is a secret word:
`password`, `db_pwd`, `X-Auth-Token`, `apiKey`, `private_key`, `cvv2`, `userPIN`.
Whole parts only, so `spinner`, `shipping` and `author` stay visible. A name
ending in a word that describes the secret rather than holding it
(`session_count`, `token_type`, `pin_length`, `auth_timeout`) stays visible too.
"""

import ast
import functools
import itertools
import re
from typing import Any

MASK = '***'
#: Longest `argsrepr`/`kwargsrepr` header, as Celery cuts them.
REPR_MAX = 1024

SECRET_WORDS = frozenset(
    {
        # passwords and keys
        'password', 'passwd', 'pwd', 'pass', 'passphrase', 'passcode', 'secret', 'secrets', 'salt',
        'apikey', 'accesskey', 'privatekey', 'secretkey', 'signingkey', 'encryptionkey', 'masterkey',
        # tokens and sessions
        'token', 'auth', 'oauth', 'authorization', 'authorisation', 'bearer', 'jwt', 'cookie', 'cookies',
        'session', 'sessionid', 'csrf', 'xsrf', 'otp', 'totp', 'hotp', 'signature',
        'credential', 'credentials', 'creds',
        # payment and identity
        'card', 'cardnumber', 'creditcard', 'cvv', 'cvc', 'pin', 'iban', 'ssn',
    }
)  # fmt: skip
#: Last word parts that describe a secret instead of holding it.
DESCRIPTIVE_SUFFIXES = frozenset(
    {'count', 'counts', 'len', 'length', 'size', 'ttl', 'timeout', 'type', 'kind', 'expiry', 'expires', 'at'}
)
_WORD_PART = re.compile(r'[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+')
_NAME_LIKE = re.compile(r'[A-Za-z][A-Za-z0-9_\-]*')
#: Shorter values are not scrubbed from free text: replacing `1` or `ok` would garble it and hide nothing.
SCRUB_MIN_LENGTH = 4


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    parts = [part.lower() for part in _WORD_PART.findall(name) if not part.isdigit()]
    if not parts or (len(parts) > 1 and parts[-1] in DESCRIPTIVE_SUFFIXES):
        return False
    pairs = (first + second for first, second in itertools.pairwise(parts))
    return any(part in SECRET_WORDS for part in parts) or any(pair in SECRET_WORDS for pair in pairs)


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and is_secret_name(key)


def redact(value: Any) -> Any:
    """Copy of `value` with every mapping entry under a secret-looking key masked, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def redact_call(
    param_names: list[str] | None, args: tuple | list, kwargs: dict[str, Any]
) -> tuple[list, dict[str, Any]]:
    """Positional arguments are masked by their parameter name in the task's signature.

    `param_names` None means the task is not known here (beat imports no task
    code): every positional argument is then masked, since any may be a secret.
    """
    if param_names is None:
        return [MASK for _ in args], redact(kwargs)
    shown = [MASK if _is_secret_param(param_names, index) else redact(arg) for index, arg in enumerate(args)]
    return shown, redact(kwargs)


def restore_masked(
    param_names: list[str] | None, shown: tuple[list, dict[str, Any]], real: tuple[list, dict[str, Any]]
) -> tuple[list, dict[str, Any]]:
    """A call edited from its masked form: each mask still standing where a secret was shown gets the real value back.

    Readers of a schedule only ever see it masked, so an edit sends `***` back
    for the secrets it left alone; storing that would replace the secret.
    """
    shown_args, shown_kwargs = shown
    real_args, real_kwargs = real
    args = [
        _restored(value, real_args[index], param_names is None or _is_secret_param(param_names, index))
        if index < len(real_args)
        else value
        for index, value in enumerate(shown_args)
    ]
    return args, _restored(shown_kwargs, real_kwargs, False)


def _is_secret_param(param_names: list[str], index: int) -> bool:
    return index < len(param_names) and is_secret_name(param_names[index])


def _restored(shown: Any, real: Any, secret: bool) -> Any:
    if secret and shown == MASK:
        return real
    if isinstance(shown, dict) and isinstance(real, dict):
        return {k: _restored(v, real[k], _is_secret_key(k)) if k in real else v for k, v in shown.items()}
    if isinstance(shown, list) and isinstance(real, list | tuple):
        return [_restored(v, real[i], False) if i < len(real) else v for i, v in enumerate(shown)]
    return shown


def _cut(text: str) -> str:
    return text if len(text) <= REPR_MAX else text[: REPR_MAX - 3] + '...'


def call_reprs(param_names: list[str] | None, args: tuple | list, kwargs: dict[str, Any]) -> tuple[str, str]:
    """The `argsrepr` and `kwargsrepr` message headers (what logs, events, Flower and inspect show), masked."""
    shown_args, shown_kwargs = redact_call(param_names, args, kwargs)
    return _cut(repr(shown_args)), _cut(repr(shown_kwargs))


def redact_repr(value: Any) -> Any:
    """A task result as events show it (`repr` text): masked if it parses, hidden if it cannot and names a secret."""
    if not isinstance(value, str):
        return repr(redact(value))
    try:
        return repr(redact(ast.literal_eval(value)))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return MASK if any(is_secret_name(word) for word in _NAME_LIKE.findall(value)) else value


def secret_values(param_names: list[str] | None, args: tuple | list, kwargs: dict[str, Any]) -> set[str]:
    """The text of every value a masked call hides (long enough to find in free text), to scrub messages with."""
    found: set[str] = set()
    names = param_names or []
    for index, arg in enumerate(args):
        secret = param_names is None or (index < len(names) and is_secret_name(names[index]))
        _collect(arg, secret, found)
    for key, value in kwargs.items():
        _collect(value, _is_secret_key(key), found)
    return found


def _collect(value: Any, secret: bool, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _collect(item, secret or _is_secret_key(key), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, secret, found)
    elif secret and isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        if len(text) >= SCRUB_MIN_LENGTH:
            found.add(text)


def scrub_text(text: str, values: set[str]) -> str:
    """`text` with every occurrence of the secret values replaced by the mask (longest first)."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
