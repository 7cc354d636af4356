"""`python -m backend.cli.beat_process`: beat started without Celery's command line; `fba beat` runs it.

Celery's command line imports every installed sub-command (Flower, a REPL, ...)
before it starts beat, tens of MB that beat would then hold for its whole life.
This starts the same `app.Beat` directly, so the beat process holds little more
than Celery, kombu, psycopg and the settings. `--app` and `--scheduler` mean
what `celery -A` and `beat -S` do.
"""

import argparse

from celery.utils.imports import symbol_by_name

DEFAULT_APP = 'backend.app.task.celery:celery_app'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='fba beat', description='Run beat with the database scheduler.')
    parser.add_argument('--app', '-A', default=DEFAULT_APP, help=f'Celery app (default {DEFAULT_APP})')
    parser.add_argument('--scheduler', '-S', help="Scheduler class (default: the app's beat_scheduler)")
    parser.add_argument('--loglevel', '-l', default='INFO')
    parser.add_argument('--hostname', '-n', help='Node name for ping, e.g. celerybeat@%%h')
    parser.add_argument(
        '--remote-control', action='store_true', help='Answer `celery inspect ping` (wakes each second)'
    )
    options = parser.parse_args(argv)
    app = symbol_by_name(options.app)
    beat = app.Beat(
        loglevel=options.loglevel,
        scheduler=options.scheduler,
        hostname=options.hostname,
        remote_control=options.remote_control,
    )
    beat.run()


if __name__ == '__main__':
    main()
