"""Long-running commands (`fba flower`, `fba up`, compose services) as subprocesses in their own process group."""

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.wait import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(('127.0.0.1', port))
        except OSError:
            return False
        return True


@dataclass
class Spawned:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def alive(self) -> bool:
        return self.proc.poll() is None

    def assert_alive(self) -> None:
        if not self.alive():
            raise AssertionError(f'{self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}')

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Signal the group, wait, then SIGKILL whatever is left of it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """kill -9 the whole process group, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def spawn(
    name: str, argv: list[str], *, env: dict[str, str], cwd: Path | str | None = None, log_dir: Path | None = None
) -> Spawned:
    """Start `argv` in its own process group, output to `<log_dir>/<name>.log` (a temp file without log_dir)."""
    if log_dir is None:
        log_path = Path(tempfile.mkstemp(prefix=f'fba-{name}-', suffix='.log')[1])
    else:
        log_path = log_dir / f'{name}.log'
    with log_path.open('wb') as log:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Spawned(name=name, proc=proc, log_path=log_path)


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> int | None:
    """The status code of a GET (None while nothing listens)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for_http(spawned: Spawned, url: str, *, timeout: float = 120.0) -> None:
    def answers() -> bool:
        spawned.assert_alive()
        return http_status(url, timeout=2) is not None

    wait_for(answers, timeout=timeout, interval=0.3, what=f'{spawned.name} to answer {url}')


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgid) of a live process, from /proc."""
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] == 'Z':  # a zombie has finished; only its parent has yet to collect it
        return None
    return int(fields[1]), int(fields[2])


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir('/proc') if entry.isdigit()]


def descendants(root: int) -> dict[int, int]:
    """Every live process below `root`, as pid -> process group."""
    stats = {pid: stat for pid in _all_pids() if (stat := _stat(pid)) is not None}
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, pgid) in stats.items():
            if ppid == parent and pid not in found:
                found[pid] = pgid
                frontier.append(pid)
    return found


def live_in_groups(groups: set[int]) -> list[int]:
    return [pid for pid in _all_pids() if (stat := _stat(pid)) is not None and stat[1] in groups]
