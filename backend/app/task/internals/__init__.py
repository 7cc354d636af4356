"""The private parts of Celery, kombu and py-amqp that the framework relies on, one module per library family.

Every use of a private attribute or function goes through a named function
here, so an upgrade that removes or changes one breaks in one place, and
`tests/unit/test_internals.py` (one test per internal) names it. Each
function's docstring says why the public API does not do the job.
"""
