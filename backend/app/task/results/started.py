"""STARTED states of a prefork worker, written by its main process in batches instead of by each child.

A prefork child runs one task at a time, and Celery's tracer writes the task's
STARTED state from the child before the task body: a round trip to PostgreSQL
that the next task of that child waits for. The main process learns the same
moment from the pool (`Request.on_accepted`: the child took the task), so a
prefork worker turns the tracer's write off and hands the request to a thread of
the main process, which writes whatever has gathered meanwhile in one
statement with a lazy commit, leaving out the tasks that already ended. The row may land after the task's outcome;
`store_results` keeps the outcome then (a STARTED row never replaces another
state of the same attempt). STARTED is advisory, like Celery's own: a failed
write is logged and dropped, never retried in the way of the next tasks.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from celery.app.task import Context
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.states import STARTED
from celery.worker.state import active_requests

logger = logging.getLogger(__name__)
#: Most STARTED rows in one statement.
MAX_ROWS = 500
#: How long the first row of a batch waits for others, so one statement carries several under load (and a task
#: that ends meanwhile needs none: it never shows STARTED, as no one could have seen it for so short a time).
GATHER_SECONDS = 0.01
#: Most requests waiting for their STARTED row: beyond it (the writer blocked, say on a row another session keeps
#: locked) new ones get none, instead of the main process holding on to every request it hands out.
MAX_WAITING = 10_000
#: Shortest time between two log lines about failed writes.
LOG_EVERY = 10.0
#: One `store_results` row.
Row = dict[str, Any]


class StartedWriter:
    """The main process's queue of STARTED rows and the thread that writes them."""

    def __init__(self, write: Callable[[list[Row]], None], result_row: Callable[..., Row]) -> None:
        self._write = write
        self._result_row = result_row
        self._taken: queue.SimpleQueue[tuple[Any, int]] = queue.SimpleQueue()
        self._logged_at = -LOG_EVERY
        self.task_names: frozenset[str] = frozenset()

    def take_over(self, tasks: Any) -> None:
        """Write STARTED here for every task that tracks it, and stop the children's tracers writing it."""
        names = {name for name, task in tasks.items() if task.track_started and not task.ignore_result}
        for name in names:
            tasks[name].track_started = False
        self.task_names = frozenset(names)
        threading.Thread(target=self._run, name='fba-started-writer', daemon=True).start()

    def add(self, request: Any, pid: int) -> bool:
        """Queue the STARTED state of a worker request that pool process `pid` took (its row is built by the
        writer thread, off the event loop that hands tasks to the children); False if too many are waiting."""
        if self._taken.qsize() >= MAX_WAITING:
            self._log_failure(f'the STARTED writer is behind by {MAX_WAITING} tasks; task {request.id} gets no row')
            return False
        self._taken.put((request, pid))
        return True

    def _started_row(self, taken: tuple[Any, int]) -> Row | None:
        """The row the child's tracer would have stored, from what the main process knows of the request."""
        request, pid = taken
        context = Context(
            request.request_dict,
            args=request.args,
            kwargs=request.kwargs,
            task=request.task_name,
            hostname=request.hostname,
            delivery_info=request.delivery_info,
        )
        try:
            return self._result_row(request.id, {'pid': pid, 'hostname': request.hostname}, STARTED, None, context)
        except Exception:  # a call other code published that our encoder refuses: its outcome says more
            logger.warning('task %s[%s]: no STARTED state stored', request.task_name, request.id, exc_info=True)
            return None

    def _run(self) -> None:
        while True:
            taken = [self._taken.get()]
            time.sleep(GATHER_SECONDS)
            while len(taken) < MAX_ROWS and not self._taken.empty():
                taken.append(self._taken.get_nowait())
            # A task no longer active has its outcome stored or on its way (its acknowledgement may wait for that
            # commit): its STARTED row would change nothing.
            running = [item for item in taken if item[0] in active_requests]
            self.write_now([row for row in map(self._started_row, running) if row is not None])

    def write_now(self, rows: list[Row]) -> None:
        try:
            self._write(rows)
        except Exception as error:
            self._log_failure(f'could not store the STARTED state of {len(rows)} tasks: {error}')

    def _log_failure(self, message: str) -> None:
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            self._logged_at = now
            logger.warning(message)


def enable_in_prefork_worker(sender: Any, **kwargs: Any) -> None:
    """`worker_init` receiver, connected by the app: a prefork worker's main process writes STARTED states."""
    writer = getattr(sender.app.backend, 'started_writer', None)
    if writer is not None and get_implementation(sender.pool_cls) is PreforkPool:
        writer.take_over(sender.app.tasks)
