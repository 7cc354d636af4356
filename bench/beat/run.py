"""Beat with 100,000 schedules: ours beside sqlalchemy-celery-beat and celery-redbeat, measured in the same run.

Each scheduler runs as `python -m backend.cli.beat_process -A bench.beat.apps:app -S <scheduler>` (what
`fba beat` runs: Celery's `app.Beat` without its command line) on the
same broker, PostgreSQL and Redis, with N interval schedules (none due) plus one
probe due at start, and publishes to a queue this script reads. Figures:
start-up to first tick (launch -> the probe's message), idle CPU, peak RSS,
edit -> published (a schedule made due by a plain write to the scheduler's
store), 1,000 schedules due in the same second, and two beats on a 1 s schedule.
A baseline that does not finish a step within its time box is reported as such.

Run: `.venv/bin/python -m bench.beat.run` (about 2 minutes; needs `pip install -e '.[bench]'`).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.beat.stores import CONTENDERS, Store
from bench.support import private_services
from tests.support.wait import wait_for

IDLE_WINDOW = 5.0
TWO_BEATS_WINDOW = 5.0


def cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads, in ns resolution (/proc/<pid>/task/*/schedstat)."""
    return sum(int(path.read_text().split()[0]) for path in Path(f'/proc/{pid}/task').glob('*/schedstat')) / 1e9


def peak_rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def beat_started(log: str) -> float:
    """When Celery logged `beat: Starting...`: the scheduler's own set-up and first tick follow."""
    found = re.search(r'\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] beat: Starting', log)
    if found is None:
        raise SystemExit(f'no "beat: Starting" line in the beat log:\n{log[-2000:]}')
    return datetime.strptime(found.group(1), '%Y-%m-%d %H:%M:%S,%f').timestamp()


def timed(condition: Callable[[], bool], timeout: float, every: float = 0.005) -> float | None:
    """Seconds until `condition` holds, or None past `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            return None
        time.sleep(every)
    return time.monotonic() - start


def measure(store: Store, app: Any, count: int) -> dict[str, Any]:
    from tests.support.beat import QueueProbe, start_beat

    figures: dict[str, Any] = {}
    probe = QueueProbe(app, store.queue)
    store.populate(count)
    launched = time.time()
    beat = start_beat(argv=store.argv())
    try:
        up = timed(lambda: len(probe.drain()) >= 1 or not beat.alive(), store.startup_timeout, 0.01)
        if not beat.alive():
            raise SystemExit(f'{store.name} beat exited:\n{beat.log()[-3000:]}')
        figures['startup'] = None if up is None else probe.messages[0].received - launched
        figures['scheduler_startup'] = None if up is None else probe.messages[0].received - beat_started(beat.log())
        time.sleep(1)  # let start-up work finish before the idle window opens
        before, start = cpu_seconds(beat.proc.pid), time.monotonic()
        time.sleep(IDLE_WINDOW)  # the measurement window itself: beat is left alone
        figures['idle_cpu'] = (cpu_seconds(beat.proc.pid) - before) * 60 / (time.monotonic() - start)
        latencies = []
        for n in range(store.edits):
            seen = len(probe.drain())
            edited = time.time()
            store.make_due_now(n)
            took = timed(lambda s=seen: len(probe.drain()) > s, store.edit_timeout)
            if took is None:
                break
            latencies.append(probe.messages[-1].received - edited)
        figures['edit'] = statistics.median(latencies) if latencies else None
        due_at = datetime.now(UTC) + timedelta(seconds=3)
        store.make_due_at(range(store.edits + 10, store.edits + 1010), due_at)
        done = timed(lambda: probe.count() >= 1000, 3 + store.burst_timeout, 0.002)
        figures['burst'] = None if done is None else time.time() - due_at.timestamp()
        figures['burst_sent'] = probe.count()
        figures['rss'] = peak_rss_mb(beat.proc.pid)
    finally:
        beat.stop()
        probe.close()
    figures['per_slot'] = two_beats(store, app)
    return figures


def two_beats(store: Store, app: Any) -> float:
    """Messages published per 1 s slot with two beats running (1.0 is right)."""
    from tests.support.beat import QueueProbe, start_beat

    store.reset_to_one_per_second()
    probe = QueueProbe(app, store.queue)
    beats = [start_beat(argv=store.argv()) for _ in range(2)]
    try:
        wait_for(lambda: len(probe.drain()) >= 1, timeout=store.startup_timeout, what='the first 1 s slot')
        first = time.time()
        # Drain as it goes: a message's receive time is when it is read.
        # The window closes half a slot after the last one it counts, so a slot a few ms later than the first
        # (wake-up jitter) is neither cut off nor mistaken for a missing one.
        end = first + TWO_BEATS_WINDOW + 0.5
        wait_for(lambda: bool(probe.drain()) and time.time() >= end, timeout=TWO_BEATS_WINDOW + 5, what='the window')
    finally:
        for beat in beats:
            beat.stop()
    messages = [m for m in probe.drain() if m.received <= end]
    probe.close()
    return len(messages) / (TWO_BEATS_WINDOW + 1)  # slots in the window, the first one included


def show(figure: str, unit: str, results: dict[str, dict[str, Any]], scale: float = 1.0, ratio: bool = True) -> None:
    ours = results['ours'].get(figure)
    parts = [f'ours {fmt(ours, unit, scale)}']
    for name, figures in results.items():
        if name == 'ours':
            continue
        theirs = figures.get(figure)
        shown = f' (ratio {theirs / ours:.1f}x)' if ratio and theirs is not None and ours else ''
        timeout = f', {figures.get("burst_sent")} sent' if figure == 'burst' and theirs is None else ''
        parts.append(f'{name} {fmt(theirs, unit, scale)}{shown}{timeout}')
    print(f'{FIGURES[figure]}: ' + '; '.join(parts))


def fmt(value: float | None, unit: str, scale: float) -> str:
    if value is None:
        return 'did not finish in its time box'
    return f'{value * scale:,.0f} {unit}' if value * scale >= 100 else f'{value * scale:.3g} {unit}'


FIGURES = {
    'startup': 'start-up to first tick (process launch -> first due task published)',
    'scheduler_startup': 'start-up to first tick (beat: Starting -> first due task published)',
    'idle_cpu': 'idle CPU',
    'rss': 'peak RSS',
    'edit': 'edit -> published (median)',
    'burst': '1,000 due in one second, last published after',
    'per_slot': 'two beats, messages per 1 s slot',
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--schedules', type=int, default=100_000)
    parser.add_argument('--only', choices=sorted(CONTENDERS), action='append', help='Measure only these')
    options = parser.parse_args()
    with private_services(queues=tuple(store.queue_name() for store in CONTENDERS.values())) as run:
        env = {
            'BENCH_BEAT_DBURI': f'postgresql+psycopg://postgres@127.0.0.1:5432/{run.database}',
            'BENCH_REDBEAT_URL': f'redis://127.0.0.1:6379/{run.redis_db}',
            'TASK_BEAT_MAX_LOOP_INTERVAL': '5',
        }
        os.environ.update(env)
        from backend.app.task.celery import celery_app

        # Warm the file cache once, so the first contender's start-up is not charged for it.
        subprocess.run([sys.executable, '-c', 'import bench.beat.apps, celery.apps.beat'], check=True)

        dsn = f'postgresql://postgres@127.0.0.1:5432/{run.database}'
        results: dict[str, dict[str, Any]] = {}
        for name in options.only or list(CONTENDERS):
            with psycopg.connect(dsn, autocommit=True) as conn:
                store = CONTENDERS[name](conn, env)
                print(f'measuring {name} with {options.schedules:,} schedules ...', file=sys.stderr, flush=True)
                results[name] = measure(store, celery_app, options.schedules)
        print(json.dumps(results, default=str), file=sys.stderr)
    if 'ours' not in results:
        return
    print('ratio = theirs / ours: above 1, ours is faster or smaller')
    show('startup', 's', results)
    show('scheduler_startup', 's', results)
    show('idle_cpu', 's CPU/min', results)
    show('rss', 'MB', results)
    show('edit', 'ms', results, 1000)
    show('burst', 's', results)
    show('per_slot', 'messages', results, ratio=False)


if __name__ == '__main__':
    main()
