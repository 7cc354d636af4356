-- name: store_results
-- Upsert the states of one or more tasks in one statement, so one round trip and
-- one transaction: the rows come as one JSON array of objects (one parameter: far
-- cheaper for the worker to send than an array per column), and a task id may
-- appear only once (ON CONFLICT cannot touch a row twice). A stored
-- SUCCESS is never overwritten (a redelivered task must not replace its first
-- result), nor the outcome of an attempt by that attempt's late STARTED row. The
-- run time is the worker's measurement when it sends one, else the time since
-- the STARTED row. With lazy_commit the commit does not wait for the
-- WAL to reach the disk (synchronous_commit off for this statement's transaction
-- only): for STARTED rows, which a crash may lose at no cost, as the task's
-- message is not acknowledged yet; the task's durable result commit flushes them.
-- The rows are taken in task id order: two sessions storing overlapping batches (the STARTED writer and the
-- result relay of one worker) then lock the ids in the same order, and cannot deadlock.
INSERT INTO task_result AS r (task_id, status, result, traceback, children, name, args, kwargs,
                              worker, retries, queue, date_started, date_done, runtime)
SELECT t.task_id, t.status, t.result::jsonb, t.traceback, t.children::jsonb, t.name,
       t.args::jsonb, t.kwargs::jsonb, t.worker, t.retries, t.queue,
       CASE WHEN t.started THEN now() ELSE now() - make_interval(secs => t.runtime) END,
       CASE WHEN t.ready THEN now() END,
       t.runtime
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS t(task_id text, status text, result text, traceback text, children text, name text, args text, kwargs text,
          worker text, retries int, queue text, started bool, ready bool, runtime float8)
CROSS JOIN (SELECT set_config('synchronous_commit',
                              CASE WHEN %(lazy_commit)s::bool THEN 'off'
                                   ELSE current_setting('synchronous_commit') END,
                              true)) AS commit_mode
ORDER BY t.task_id
ON CONFLICT (task_id) DO UPDATE SET
    status = EXCLUDED.status,
    result = EXCLUDED.result,
    traceback = EXCLUDED.traceback,
    children = EXCLUDED.children,
    name = COALESCE(EXCLUDED.name, r.name),
    args = COALESCE(EXCLUDED.args, r.args),
    kwargs = COALESCE(EXCLUDED.kwargs, r.kwargs),
    worker = COALESCE(EXCLUDED.worker, r.worker),
    retries = COALESCE(EXCLUDED.retries, r.retries),
    queue = COALESCE(EXCLUDED.queue, r.queue),
    date_started = COALESCE(r.date_started, EXCLUDED.date_started),
    date_done = EXCLUDED.date_done,
    runtime = COALESCE(EXCLUDED.runtime, EXTRACT(EPOCH FROM EXCLUDED.date_done - r.date_started))
WHERE r.status <> 'SUCCESS'
  -- A STARTED row can arrive after the outcome of its attempt (a prefork worker's main process writes them in
  -- batches): it replaces a STARTED row, or the state of an earlier attempt (fewer retries), nothing else.
  AND (EXCLUDED.status <> 'STARTED' OR r.status = 'STARTED' OR r.retries < EXCLUDED.retries)

-- name: get_result
-- Everything `AsyncResult` needs; JSON columns come back as text for kombu to decode.
SELECT status, result::text AS result, traceback, children::text AS children, date_done,
       name, args::text AS args, kwargs::text AS kwargs, worker, retries, queue
FROM task_result
WHERE task_id = %(task_id)s

-- name: task_id_known
-- Whether an id has a result row or was handed out here (a schedule run, a dead-letter requeue, a group),
-- so a task without a result is waiting rather than unknown.
SELECT EXISTS (SELECT 1 FROM task_result WHERE task_id = %(task_id)s)
    OR EXISTS (SELECT 1 FROM task_schedule_run WHERE task_id = %(task_id)s)
    OR EXISTS (SELECT 1 FROM task_dead_letter WHERE requeued_task_id = %(task_id)s)
    OR EXISTS (SELECT 1 FROM task_group_result WHERE group_id = %(task_id)s)

-- name: forget_result
-- Drop one task's result.
DELETE FROM task_result WHERE task_id = %(task_id)s

-- name: save_group
-- Save (or replace) a group's member list.
INSERT INTO task_group_result (group_id, result, date_done)
VALUES (%(group_id)s, %(result)s::jsonb, now())
ON CONFLICT (group_id) DO UPDATE SET result = EXCLUDED.result, date_done = EXCLUDED.date_done

-- name: get_group
-- A saved group's member list as kombu-JSON text.
SELECT result::text AS result, date_done FROM task_group_result WHERE group_id = %(group_id)s

-- name: delete_group
-- Drop a saved group.
DELETE FROM task_group_result WHERE group_id = %(group_id)s

-- name: purge_expired_results
-- Remove finished results, groups and abandoned chord counters older than the expiry;
-- returns how many task rows went.
WITH gone_groups AS (
    DELETE FROM task_group_result WHERE date_done < now() - make_interval(secs => %(expires)s)
), gone_chords AS (
    DELETE FROM task_chord WHERE date_created < now() - make_interval(secs => %(expires)s)
)
DELETE FROM task_result WHERE date_done < now() - make_interval(secs => %(expires)s)

-- name: get_results
-- The rows of many tasks at once, for `get_many` and native joins of groups and chords.
SELECT task_id, status, result::text AS result, traceback, children::text AS children, date_done,
       name, args::text AS args, kwargs::text AS kwargs, worker, retries, queue
FROM task_result
WHERE task_id = ANY(%(task_ids)s)

-- name: start_chord
-- A chord is about to send its header: (re)start its counter, forgetting the parts of an earlier run of the
-- same group id; the size comes later.
WITH cleared AS (
    DELETE FROM task_chord_part WHERE group_id = %(group_id)s
)
INSERT INTO task_chord (group_id, size, done, completed_by, body_sent, date_created)
VALUES (%(group_id)s, NULL, 0, NULL, false, now())
ON CONFLICT (group_id) DO UPDATE SET size = NULL, done = 0, completed_by = NULL, body_sent = false,
                                     date_created = now()

-- name: set_chord_size
-- The number of header tasks, set just before the last header message is sent.
INSERT INTO task_chord (group_id, size, done, date_created)
VALUES (%(group_id)s, %(size)s, 0, now())
ON CONFLICT (group_id) DO UPDATE SET size = EXCLUDED.size

-- name: count_chord_part
-- One header task finished. Its id is recorded once, so a redelivered copy of a counted task adds nothing.
-- The row lock serialises concurrent finishers, so exactly one brings `done` to `size`; it is recorded in
-- `completed_by`, and it (or its own redelivered copy, if it died before the body went out) sends the body.
WITH part AS (
    INSERT INTO task_chord_part (group_id, task_id)
    SELECT group_id, %(task_id)s FROM task_chord WHERE group_id = %(group_id)s
    ON CONFLICT DO NOTHING
    RETURNING 1
)
UPDATE task_chord c
SET done = c.done + (SELECT count(*) FROM part),
    completed_by = CASE
        WHEN c.completed_by IS NULL AND c.done + (SELECT count(*) FROM part) = c.size THEN %(task_id)s
        ELSE c.completed_by
    END
WHERE c.group_id = %(group_id)s
RETURNING c.done, c.size, COALESCE(c.completed_by = %(task_id)s AND NOT c.body_sent, false) AS sends_body

-- name: mark_chord_body_sent
-- The body was published (or the chord failed): no copy of a header task sends it again.
UPDATE task_chord SET body_sent = true WHERE group_id = %(group_id)s

-- name: mark_beat_transaction
-- Tag the current transaction as beat's own: the schedule triggers neither bump versions nor notify.
SELECT set_config('fba.beat', 'on', true)

-- name: claim_due_schedules
-- Lock a batch of due, up-to-date rows; rows another beat holds are skipped, not waited for.
SELECT s.*, now() AS db_now
FROM task_schedule s
WHERE s.enabled AND s.next_run_at <= now() AND s.version = s.planned_version
ORDER BY s.next_run_at
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED

-- name: insert_schedule_runs
-- Record the claimed slots; a slot already recorded is not inserted again, so it is not sent again.
INSERT INTO task_schedule_run (schedule_id, scheduled_for, task_id)
SELECT * FROM unnest(%(schedule_ids)s::bigint[], %(scheduled_for)s::timestamptz[], %(task_ids)s::text[])
ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
RETURNING id, schedule_id, task_id

-- name: advance_schedules
-- Move claimed rows on: next run, last run, run count and enabled (false for a finished one-off, or a row
-- that cannot be sent, with the reason).
UPDATE task_schedule s
SET next_run_at = v.next_run_at,
    last_run_at = CASE WHEN v.runs > 0 THEN now() ELSE s.last_run_at END,
    total_run_count = s.total_run_count + v.runs,
    enabled = v.enabled,
    disabled_reason = v.reason
FROM unnest(%(ids)s::bigint[], %(next_run_at)s::timestamptz[], %(runs)s::int[], %(enabled)s::bool[],
            %(reasons)s::text[])
    AS v(id, next_run_at, runs, enabled, reason)
WHERE s.id = v.id

-- name: claim_moved_schedules
-- Lock a batch of rows whose version moved since next_run_at was computed (edits that bypassed the service).
SELECT s.*, now() AS db_now
FROM task_schedule s
WHERE s.version <> s.planned_version
ORDER BY s.id
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED

-- name: replan_schedules
-- Store next_run_at as computed for the version read; a row that cannot run is disabled with the reason.
UPDATE task_schedule s
SET next_run_at = v.next_run_at,
    planned_version = v.version,
    enabled = s.enabled AND v.reason IS NULL,
    disabled_reason = v.reason
FROM unnest(%(ids)s::bigint[], %(versions)s::int[], %(next_run_at)s::timestamptz[], %(reasons)s::text[])
    AS v(id, version, next_run_at, reason)
WHERE s.id = v.id

-- name: claim_undispatched_runs
-- Lock claimed slots whose beat died (or whose broker refused) before sending them, to send them again.
SELECT r.id AS run_id, r.task_id, s.task, s.args, s.kwargs, s.queue, s.routing_key, s.priority, s.expire_seconds
FROM task_schedule_run r
JOIN task_schedule s ON s.id = r.schedule_id
WHERE r.dispatched_at IS NULL AND r.claimed_at < now() - make_interval(secs => %(older_than)s)
ORDER BY r.claimed_at
LIMIT %(batch)s
FOR UPDATE OF r SKIP LOCKED

-- name: mark_runs_dispatched
-- The broker confirmed these runs' messages.
UPDATE task_schedule_run SET dispatched_at = now() WHERE id = ANY(%(ids)s::bigint[])

-- name: purge_schedule_runs
-- Delete a batch of runs sent longer ago than the retention; an unsent run is still owed and stays.
DELETE FROM task_schedule_run WHERE id IN (
    SELECT id FROM task_schedule_run
    WHERE dispatched_at < now() - make_interval(days => %(days)s)
    ORDER BY dispatched_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)

-- name: next_due_at
-- When the earliest enabled schedule is next due (NULL if none), so beat can sleep until then.
SELECT min(next_run_at) FROM task_schedule WHERE enabled

-- name: insert_dead_letter
-- Keep a task that failed for good; the same task id failing again (a redelivery, a
-- requeue that reuses it) updates the one row instead of adding a second.
INSERT INTO task_dead_letter AS d (task_id, task_name, args, kwargs, queue, reason, exception_type,
                                   exception_message, traceback, body, retries, worker)
VALUES (%(task_id)s, %(task_name)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(queue)s, %(reason)s,
        %(exception_type)s, %(exception_message)s, %(traceback)s, %(body)s, %(retries)s, %(worker)s)
ON CONFLICT (task_id) DO UPDATE SET
    reason = EXCLUDED.reason,
    exception_type = EXCLUDED.exception_type,
    exception_message = EXCLUDED.exception_message,
    traceback = EXCLUDED.traceback,
    retries = EXCLUDED.retries,
    worker = COALESCE(EXCLUDED.worker, d.worker),
    failures = d.failures + 1,
    last_failed_at = now()
RETURNING id

-- name: count_delivery
-- A redelivered task message is starting: count it (the first delivery, never counted, makes the first row 2).
INSERT INTO task_delivery AS d (task_id, deliveries) VALUES (%(task_id)s, 2)
ON CONFLICT (task_id) DO UPDATE SET deliveries = d.deliveries + 1
RETURNING deliveries

-- name: credit_released
-- First deliveries given back unstarted: their next start, marked redelivered, counts as what it is (a first
-- delivery is never counted, so with no row yet the next start makes 1; a retry's message under a counted id, one less).
INSERT INTO task_delivery AS d (task_id, deliveries) SELECT DISTINCT unnest(%(task_ids)s::text[]), 0
ON CONFLICT (task_id) DO UPDATE SET deliveries = d.deliveries - 1

-- name: purge_expired_deliveries
-- Forget delivery counts older than the result expiry.
DELETE FROM task_delivery WHERE date_created < now() - make_interval(secs => %(expires)s)
