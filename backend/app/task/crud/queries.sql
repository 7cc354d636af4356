-- name: store_result
-- Upsert a task's state in one round trip; a stored SUCCESS is never overwritten
-- (a redelivered task must not replace its first result), and the run time is
-- measured in the database from the STARTED row to the final one.
INSERT INTO task_result AS r (task_id, status, result, traceback, children, name, args, kwargs,
                              worker, retries, queue, date_started, date_done)
VALUES (%(task_id)s, %(status)s, %(result)s::jsonb, %(traceback)s, %(children)s::jsonb, %(name)s,
        %(args)s::jsonb, %(kwargs)s::jsonb, %(worker)s, %(retries)s, %(queue)s,
        CASE WHEN %(started)s THEN now() END,
        CASE WHEN %(ready)s THEN now() END)
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
    runtime = EXTRACT(EPOCH FROM EXCLUDED.date_done - r.date_started)
WHERE r.status <> 'SUCCESS'

-- name: get_result
-- Everything `AsyncResult` needs; JSON columns come back as text for kombu to decode.
SELECT status, result::text AS result, traceback, children::text AS children, date_done,
       name, args::text AS args, kwargs::text AS kwargs, worker, retries, queue
FROM task_result
WHERE task_id = %(task_id)s

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
-- Remove finished results and groups older than the expiry; returns how many task rows went.
WITH gone_groups AS (
    DELETE FROM task_group_result WHERE date_done < now() - make_interval(secs => %(expires)s)
)
DELETE FROM task_result WHERE date_done < now() - make_interval(secs => %(expires)s)
