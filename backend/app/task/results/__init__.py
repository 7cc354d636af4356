"""Task results in PostgreSQL: `PostgresBackend` (`backend.py`), the Celery result backend named in `celery.py`,
with chords counted in `task_chord`, and result batching (`batch.py`), which commits several results in one
transaction and acknowledges their messages only after the commit. It imports crud's SQL, utils and messaging's
Redis acknowledgements; never a service.
"""
