"""Every setting is listed, with a comment, in .env.example and in the README's settings table."""

import re
from pathlib import Path

from backend.core.conf import Settings

ROOT = Path(__file__).resolve().parents[3]


def _block_has_comment(lines: list[str], index: int) -> bool:
    """A setting's block (the lines since the previous blank line) explains it in a comment."""
    while index > 0 and lines[index - 1].strip():
        index -= 1
        if lines[index].startswith('#'):
            return True
    return False


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    lines = (ROOT / '.env.example').read_text().splitlines()
    undocumented = []
    for name in Settings.model_fields:
        index = next((i for i, line in enumerate(lines) if line.startswith(f'{name}=')), None)
        if index is None or not _block_has_comment(lines, index):
            undocumented.append(name)
    assert undocumented == []


def test_every_setting_is_in_the_readme_settings_table() -> None:
    readme = (ROOT / 'README.md').read_text()
    missing = [name for name in Settings.model_fields if not re.search(rf'^\| `{name}` \|', readme, re.MULTILINE)]
    assert missing == []
