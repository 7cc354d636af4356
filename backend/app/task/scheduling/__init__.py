"""When a schedule fires, as pure functions shared by the service (next run on every write) and beat (what to send
for a due row): five-field cron maths across DST (`cron.py`), slots, catch-up and send options (`plan.py`), and
Celery's `beat_schedule` entries turned into schedule rows (`beat_entries.py`). No I/O; it imports only errors,
utils and the queue rules of messaging.
"""
