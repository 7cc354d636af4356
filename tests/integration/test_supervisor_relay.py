"""The relay of a supervised part's output (`fba up`, `fba workers`): every line arrives verbatim, whatever it holds.

A relay thread that dies stops reading the part's pipe; once the pipe's buffer
(64 KiB on Linux) is full the part blocks on its next write, for good. So the
part here writes lines that look like Rich markup, bytes that are not UTF-8,
then more than a pipe buffer, then a sentinel: the sentinel must arrive.
"""

import sys
from typing import Any

import pytest
from rich.console import Console

from backend.cli.supervisor import Supervisor

MARKUP_LINES = (
    '[bold]not bold[/bold]',
    '[/]',
    '[link=https://example.com]a link[/link]',
    '[/foo] closes nothing',
    '[red',
    ':smile: [[double]] \\[escaped]',
)
FILLER_LINES = 2000  # 2000 lines of 80 bytes: 160 KB, well over a 64 KiB pipe buffer
SENTINEL = 'relay-sentinel-end'

PART = f"""
import sys
for line in {MARKUP_LINES!r}:
    print(line)
sys.stdout.flush()
sys.stdout.buffer.write(b'not utf-8: \\xff\\xfe\\n')
for index in range({FILLER_LINES}):
    print(f'filler {{index:06d}} ' + 'x' * 64)
print({SENTINEL!r})
"""


def run_part(console: Console | None = None) -> int:
    return Supervisor({'part': [sys.executable, '-c', PART]}, console=console).run()


def relayed(text: str) -> list[str]:
    """The lines as relayed, without the `  part | ` prefix."""
    return [line.split(' | ', 1)[1] for line in text.splitlines() if line.startswith('  part | ')]


@pytest.mark.timeout(120)
def test_markup_lines_are_relayed_verbatim_and_the_relay_keeps_reading(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a part printing markup-looking lines, a non-UTF-8 line, more than a pipe buffer and a sentinel
    # When the supervisor relays it until it exits
    run_part()
    lines = relayed(capsys.readouterr().out)
    # Then every line arrives as written, and the relay read on to the sentinel
    assert lines[: len(MARKUP_LINES)] == list(MARKUP_LINES)
    assert lines[len(MARKUP_LINES)] == 'not utf-8: \ufffd\ufffd'
    assert len([line for line in lines if line.startswith('filler ')]) == FILLER_LINES
    assert lines[-1] == SENTINEL


class FailingConsole(Console):
    """A console that raises on every other line it is given, as a broken terminal or a Rich bug might."""

    def __init__(self) -> None:
        super().__init__(file=sys.stdout, highlight=False, soft_wrap=True)
        self.calls = 0

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError('the console broke')
        super().print(*objects, **kwargs)


@pytest.mark.timeout(120)
def test_the_relay_survives_a_console_that_raises(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a console that raises on every other line
    console = FailingConsole()
    # When the supervisor relays the same part
    run_part(console)
    lines = relayed(capsys.readouterr().out)
    # Then the lines the console refused were written plainly, and the relay read on to the sentinel
    assert console.calls > FILLER_LINES
    assert lines[: len(MARKUP_LINES)] == list(MARKUP_LINES)
    assert len([line for line in lines if line.startswith('filler ')]) == FILLER_LINES
    assert lines[-1] == SENTINEL
