"""Task code: `TaskBase` and `@task` (`base.py`), the code schedules (`beat.py`), the general tasks (`tasks.py`) and
one folder per feature with its own `tasks.py`, models and migrations, found by `discovery.py` one level up.
"""
