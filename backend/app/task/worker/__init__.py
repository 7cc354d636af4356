"""What a worker process adds around Celery's own machinery: one event loop per process for `async def` tasks
(`event_loop.py`), the request class that masks what events and `celery inspect` show and acknowledges after the
result is committed (`masked_request.py`), and the Prometheus endpoint that serves a worker's metrics, prefork
children included (`metrics_exporter.py`). It imports results and utils.
"""
