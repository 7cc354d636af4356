"""Celery's own integration tests run against our result backend (`make compat`, `python -m tests.compat.run`).

Not part of the main suite: nothing here is named `test_*.py`, so pytest does not collect it.
"""
