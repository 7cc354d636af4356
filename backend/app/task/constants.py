"""Fixed limits and names shared across layers (settings hold what deployments tune)."""

# --- Tasks -------------------------------------------------------------------
#: Request attribute `TaskBase.before_start` sets to `time.monotonic()`, before any hook runs: the one start time
#: behind the stored run time, the log line and the run-time histogram (no STARTED write needed).
TIME_START = 'fba_time_start'

#: Beat answers ping under a node name starting with this (Celery's default `celerybeat@host`; `fba up` uses
#: `celerybeat-up-…`), which is how health and monitoring tell it from the workers.
BEAT_NODE_PREFIX = 'celerybeat'

#: Largest value of a PostgreSQL `integer` column (every count, interval and seconds column of a schedule).
PG_INT_MAX = 2**31 - 1

# --- HTTP API ------------------------------------------------------------------
#: Default and largest page of every list route.
API_PAGE_SIZE = 20
API_PAGE_SIZE_MAX = 100
#: Largest offset a list route accepts (deeper pages are better reached with filters).
API_OFFSET_MAX = 1_000_000
#: Task arguments sent through the API: nesting depth and encoded JSON size.
API_JSON_MAX_DEPTH = 10
API_JSON_MAX_BYTES = 65_536
#: Longest string accepted in names and identifiers (Celery's own column width).
API_NAME_MAX_LENGTH = 155
#: Seconds the API waits for workers to answer a ping or an inspect broadcast.
API_INSPECT_TIMEOUT = 1.0

# --- Metrics -------------------------------------------------------------------
#: Window, in seconds, of the API's largest-beat-dispatch-lag gauge.
METRICS_LAG_WINDOW_SECONDS = 900
#: Largest row id a path accepts (PostgreSQL bigint).
API_ID_MAX = 2**63 - 1
#: Furthest a call sent through the API may be delayed or expire (countdown, eta, expires), in seconds.
API_MAX_DELAY_SECONDS = 365 * 24 * 3600

# --- Web console -------------------------------------------------------------
#: Seconds a console session lasts after sign-in (the cookie carries its own expiry, signed).
CONSOLE_SESSION_SECONDS = 8 * 3600
#: Seconds between two refreshes of a live region (dashboard, task state, schedule runs).
CONSOLE_POLL_MS = 2000
