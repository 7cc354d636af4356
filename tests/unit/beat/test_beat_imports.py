"""Beat's process stays small because it never imports task code, the ORM or the metrics client."""

import subprocess
import sys

#: What beat must not hold: drop-in task modules, SQLAlchemy, pydantic models of the API, prometheus, Celery's CLI.
FORBIDDEN = ('backend.app.task.tasks.', 'sqlalchemy', 'prometheus_client', 'backend.app.task.schema', 'celery.bin')


def test_beat_process_imports_no_task_code_orm_or_metrics() -> None:
    # Given the modules a `fba beat` process loads: its launcher, the app and the scheduler
    script = (
        'import sys, backend.cli.beat_process, backend.app.task.celery, backend.app.task.utils.schedulers; '
        'print("\\n".join(sys.modules))'
    )
    # When they are imported in a fresh interpreter
    loaded = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True).stdout.split()
    # Then none of the heavy parts came along (tasks/beat.py, the code schedules, is read by the start-up child only)
    assert {'backend.app.task.utils.schedulers', 'backend.app.task.beat.scheduler'} <= set(loaded)
    assert [name for name in loaded if name.startswith(FORBIDDEN)] == []
