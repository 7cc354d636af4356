"""The app every scheduler in the benchmark runs with: ours, plus what the two baselines read from its config.

Same broker, same task modules and same settings for all three; only `-S` differs.
"""

import os

from backend.app.task.celery import celery_app as app

# sqlalchemy-celery-beat: its tables live in their own schema of the benchmark database.
app.conf.beat_dburi = os.environ.get('BENCH_BEAT_DBURI')
app.conf.beat_schema = 'celery_schema'
# celery-redbeat: the benchmark's private Redis database.
app.conf.redbeat_redis_url = os.environ.get('BENCH_REDBEAT_URL')
app.conf.redbeat_key_prefix = 'bench:'
