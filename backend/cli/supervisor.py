"""Runs several child processes as one: prefixed output, and all stop when one stops, on Ctrl-C, or when it dies."""

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from rich.console import Console, RenderableType
from rich.text import Text

COLOURS = ('cyan', 'magenta', 'green', 'yellow', 'blue')
STOP_TIMEOUT = 15.0
READY_POLL_SECONDS = 0.5
#: Seconds `stop` waits for the relays to print what the parts wrote before exiting (their last words).
RELAY_DRAIN_TIMEOUT = 10.0
#: Set in each child's environment: the supervisor's pid, which `follow_supervisor` watches.
SUPERVISOR_PID = 'FBA_SUPERVISOR_PID'
PR_SET_PDEATHSIG = 1


class Supervisor:
    def __init__(
        self, commands: dict[str, list[str]], env: dict[str, str] | None = None, console: Console | None = None
    ) -> None:
        self.commands = commands
        self.env = env
        self.console = console or Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.relays: list[threading.Thread] = []
        self.stopping = threading.Event()

    def run(self, ready: Callable[[], RenderableType | None] | None = None) -> int:
        """Start every command, wait until one exits or we are interrupted, then stop the rest.

        `ready` is polled until it returns something to print (e.g. a status table), which is shown once.
        """
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        died = False
        try:
            for index, (name, argv) in enumerate(self.commands.items()):
                self._start(name, argv, COLOURS[index % len(COLOURS)])
            if ready is not None:
                threading.Thread(target=self._announce_when_ready, args=(ready,), daemon=True).start()
            while not self.stopping.wait(0.2):
                exited = [name for name, proc in self.processes.items() if proc.poll() is not None]
                if exited:
                    died = True
                    self._show(Text(f'{exited[0]} exited with code {self.processes[exited[0]].returncode}', 'red'))
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            signal.signal(signal.SIGTERM, previous)
        # Stopped on request: success. A part that exited by itself means the group failed, whatever its code.
        return 1 if died else 0

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        drained_by = time.monotonic() + RELAY_DRAIN_TIMEOUT
        for relay in self.relays:
            relay.join(max(0.0, drained_by - time.monotonic()))

    def _announce_when_ready(self, ready: Callable[[], RenderableType | None]) -> None:
        while not self.stopping.is_set():
            try:
                shown = ready()
            except Exception:  # not answering yet (connection refused, timeout): ask again
                shown = None
            if shown is not None:
                self._show(shown)
                return
            self.stopping.wait(READY_POLL_SECONDS)

    def _start(self, name: str, argv: list[str], colour: str) -> None:
        env = {**(self.env if self.env is not None else os.environ), SUPERVISOR_PID: str(os.getpid())}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes[name] = proc
        assert proc.stdout is not None
        relay = threading.Thread(target=self._relay, args=(name, colour, proc.stdout), daemon=True)
        relay.start()
        self.relays.append(relay)

    def _relay(self, name: str, colour: str, stream: IO[bytes]) -> None:
        """Print each line the part writes, as written: a relay that stopped reading would block the part."""
        prefix = Text(f'{name:>6} |', colour)
        with stream:
            for raw in stream:
                # Text, not a markup string: a line such as `[/foo]` is shown as is, never parsed.
                self._show(Text.assemble(prefix, ' ', raw.decode(errors='replace').rstrip()))
        sys.stdout.flush()

    def _show(self, renderable: RenderableType) -> None:
        """Print through the console; if it fails, write the plain text (losing colour beats losing the line)."""
        try:
            self.console.print(renderable)
        except Exception:
            plain = renderable.plain if isinstance(renderable, Text) else str(renderable)
            try:
                sys.stdout.write(plain + '\n')
                sys.stdout.flush()
            except Exception:  # stdout itself is gone: drop the line, keep draining the pipe
                pass


def follow_supervisor() -> None:
    """In a part started by `fba up`: be sent SIGTERM when it dies, even by SIGKILL, which it cannot pass on.

    Each part runs in a session of its own (so Ctrl-C reaches `fba up` alone), so
    only the kernel can tell it its supervisor is gone: Linux's parent-death signal.
    """
    supervisor = os.environ.pop(SUPERVISOR_PID, None)
    if supervisor is None or not sys.platform.startswith('linux'):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before the signal was armed
        raise SystemExit('fba up stopped before this part started.')
