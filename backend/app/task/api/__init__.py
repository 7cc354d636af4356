"""The HTTP API under `/api/v1`: routes (`v1/`), their dependencies (`deps.py`: settings, a session, the Celery
app, paging), the error table that maps each `TaskError` to a status (`errors.py`) and the request guard. Routes
only parse, call one service and shape the answer.
"""
