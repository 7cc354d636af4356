"""The beat process: `DatabaseScheduler` (`scheduler.py`) claims due schedule rows in PostgreSQL each tick and
publishes them, and its start-up child (`startup.py`, run as `python -m backend.app.task.beat.startup`) imports the
task code once to sync the code schedules and list the registered tasks, so beat itself never holds task code. It
may import the service layer (the child uses `schedule_service`), crud, scheduling and messaging; nothing below it
imports beat. Users name it by the documented path `backend.app.task.utils.schedulers:DatabaseScheduler`.
"""
