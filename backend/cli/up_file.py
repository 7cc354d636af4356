"""`.fba/up.json`: the URLs a running `fba up` serves, so `fba health --only api` probes the port it chose."""

import json
from pathlib import Path

#: Relative to the folder `fba up` runs in, like its embedded servers' data (`.fba/`).
UP_FILE = Path('.fba') / 'up.json'


def write_urls(urls: dict[str, str]) -> None:
    UP_FILE.parent.mkdir(exist_ok=True)
    UP_FILE.write_text(json.dumps(urls, indent=2), encoding='utf-8')


def read_url(name: str) -> str | None:
    """The URL of `name` a running `fba up` wrote; None when none runs here (or the file is unreadable)."""
    try:
        value = json.loads(UP_FILE.read_text(encoding='utf-8')).get(name)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def remove() -> None:
    UP_FILE.unlink(missing_ok=True)
