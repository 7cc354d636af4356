"""`fba`: one command for workers, beat, Flower, the API, migrations and tasks.

Expected failures (bad settings or input, unknown task or id, database or
broker down) end with one sentence on stderr and exit code 1, never a
traceback (`errors.run_cli`).
"""

import typer

from backend.cli import db, dlq, health, pools, run, schedule, task
from backend.cli.errors import run_cli
from backend.cli.supervisor import follow_supervisor

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
run.register(app)
app.command()(health.health)
app.add_typer(task.app, name='task', help='List, send, inspect and revoke tasks.')
app.add_typer(db.app, name='db', help='Database migrations.')
app.add_typer(dlq.app, name='dlq', help='List, show, requeue and purge dead letters.')
app.command()(pools.workers)
app.add_typer(schedule.app, name='schedule', help='Add, change, run and preview schedules.')


def main() -> None:
    follow_supervisor()
    run_cli(app)


if __name__ == '__main__':
    main()
