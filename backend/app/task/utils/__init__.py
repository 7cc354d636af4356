"""Small helpers that know no layer of the framework: the check of values that travel in messages and `jsonb`
(`json_safety.py`), masking of secret-looking names (`redact.py`, `scrub.py`), a task's call signature
(`signature.py`), one raw psycopg connection per thread (`pg_connection.py`) and telling a down service from a
bug (`outage.py`, with `ServicesUnavailable`). They import only errors, constants, settings and third-party code.
`schedulers.py` is the documented re-export of beat's scheduler.
"""
