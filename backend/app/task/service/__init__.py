"""The use cases, one module per resource (tasks, schedules, dead letters, monitoring, overview, metrics): the
API, the console, the CLI and beat's start-up child call them. They take a session (and the Celery app) from the
caller and use crud, schema, scheduling and messaging; they never import api, console, cli or beat.
"""
