"""Run several `fba` command lines in one Python process, each as if it were a process of its own.

A test of what a refused command says (its one sentence, its exit code) does not
need a new interpreter per case, and starting one costs about a second on a
loaded machine. Each command line runs `backend.cli.main.main()` with its own
`sys.argv`, file descriptors 1 and 2 pointed at files of its own (so everything
it writes is caught, whichever object writes it), and its exit code taken from
`SystemExit`; an exception that escapes is printed with its traceback and gives
exit code 1, as the interpreter would. The environment is the one the process
was started with, the same for every command line of a call.

Used through `run_many`; `python -m tests.support.cli_many` reads a JSON list of
argument lists on stdin and writes one JSON list of results on stdout.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class Done:
    """What `subprocess.run(..., capture_output=True, text=True)` gives, plus the seconds the command took."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_many(argvs: list[list[str]], env: dict[str, str] | None = None, timeout: float = 300) -> list[Done]:
    """Run each of `argvs` as `fba ARGS...` in one new process with `env` added to this one's environment."""
    done = subprocess.run(
        [sys.executable, '-m', 'tests.support.cli_many'],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, 'COLUMNS': '200', **(env or {})},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [Done(**result) for result in json.loads(done.stdout)]


def _exit_code(code: Any) -> tuple[int, str]:
    """The exit status and the text the interpreter prints for `SystemExit(code)`."""
    if code is None:
        return 0, ''
    if isinstance(code, int):
        return code, ''
    return 1, f'{code}\n'


def _run_one(args: list[str]) -> dict[str, Any]:
    from backend.cli.main import main

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.argv = ['fba', *args]
        started = time.monotonic()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code, message = _exit_code(exit_.code)
            sys.stderr.write(message)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            seconds = time.monotonic() - started
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {
            'args': args,
            'returncode': code,
            'stdout': out.read().decode(errors='replace'),
            'stderr': err.read().decode(errors='replace'),
            'seconds': seconds,
        }


def main() -> None:
    argvs = json.load(sys.stdin)
    results = [_run_one(args) for args in argvs]
    sys.stdout.write(json.dumps(results))


if __name__ == '__main__':
    main()
