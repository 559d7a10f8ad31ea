-- The job queue: maintained counts, wake-up notifications, and the indexes
-- the queue's own queries need.

-- ---------------------------------------------------------------------------
-- Counts by (status, job type), kept by the database itself so that they
-- stay right whoever writes job_logs (the queue, an admin, plain SQL) and
-- cost nothing to read on a table of millions of rows.
--
-- Statement-level triggers append one delta row per (status, type) that a
-- statement changed to job_count_deltas (an append-only table: writers never
-- wait on each other); walletops_roll_up_job_counts() folds the deltas into
-- job_counts. A count is job_counts plus the deltas not yet folded.
-- NULL status or type (possible in rows written by plain SQL) count as ''.
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS job_counts (
    status text NOT NULL,
    job_type text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (status, job_type)
);

CREATE TABLE IF NOT EXISTS job_count_deltas (
    status text NOT NULL,
    job_type text NOT NULL,
    n bigint NOT NULL
);

CREATE OR REPLACE FUNCTION walletops_job_counts_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, job_type, n)
    SELECT coalesce(status, ''), coalesce(job_type, ''), count(*)
      FROM new_rows GROUP BY 1, 2;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_job_counts_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, job_type, n)
    SELECT coalesce(status, ''), coalesce(job_type, ''), -count(*)
      FROM old_rows GROUP BY 1, 2;
    RETURN NULL;
END
$$;

-- Old rows count -1, new rows +1; what nets to zero (a heartbeat, a lease
-- renewal) writes nothing. No join on id is needed.
CREATE OR REPLACE FUNCTION walletops_job_counts_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, job_type, n)
    SELECT s, t, sum(d) FROM (
        SELECT coalesce(status, '') AS s, coalesce(job_type, '') AS t, -1 AS d FROM old_rows
        UNION ALL
        SELECT coalesce(status, ''), coalesce(job_type, ''), 1 FROM new_rows
    ) changes
    GROUP BY s, t
    HAVING sum(d) <> 0;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_job_counts_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_count_deltas;
    DELETE FROM job_counts;
    RETURN NULL;
END
$$;

-- Folds the deltas into job_counts. Safe to run concurrently: each delta row
-- is deleted (and so added) by exactly one caller.
CREATE OR REPLACE FUNCTION walletops_roll_up_job_counts() RETURNS bigint
LANGUAGE sql AS $$
    WITH moved AS (
        DELETE FROM job_count_deltas RETURNING status, job_type, n
    ), summed AS (
        SELECT status, job_type, sum(n)::bigint AS n, count(*) AS rows
          FROM moved GROUP BY status, job_type
    ), applied AS (
        INSERT INTO job_counts AS c (status, job_type, n)
        SELECT status, job_type, n FROM summed
        ON CONFLICT (status, job_type) DO UPDATE SET n = c.n + excluded.n
    )
    -- Data-modifying CTEs run whether or not the final SELECT reads them.
    SELECT coalesce(sum(rows), 0)::bigint FROM summed;
$$;

-- Start from the rows already there (an existing deployment), then keep up.
-- The table is locked so that no write slips between the count and the
-- triggers.
LOCK TABLE job_logs IN SHARE ROW EXCLUSIVE MODE;

DELETE FROM job_counts;
DELETE FROM job_count_deltas;
INSERT INTO job_counts (status, job_type, n)
SELECT coalesce(status, ''), coalesce(job_type, ''), count(*)
  FROM job_logs GROUP BY 1, 2;

DROP TRIGGER IF EXISTS job_logs_counts_insert ON job_logs;
CREATE TRIGGER job_logs_counts_insert
    AFTER INSERT ON job_logs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_counts_insert();
DROP TRIGGER IF EXISTS job_logs_counts_update ON job_logs;
CREATE TRIGGER job_logs_counts_update
    AFTER UPDATE ON job_logs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_counts_update();
DROP TRIGGER IF EXISTS job_logs_counts_delete ON job_logs;
CREATE TRIGGER job_logs_counts_delete
    AFTER DELETE ON job_logs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_counts_delete();
DROP TRIGGER IF EXISTS job_logs_counts_truncate ON job_logs;
CREATE TRIGGER job_logs_counts_truncate
    AFTER TRUNCATE ON job_logs
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_counts_truncate();

-- ---------------------------------------------------------------------------
-- Wake-ups. One notification per statement that leaves any job pending
-- (insert, retry, rescue, operator retry), so that a bulk insert of a million
-- rows sends one, not a million. Workers LISTEN on walletops_jobs; polling
-- is only their fallback. Notifications are sent at commit.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_notify_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'pending') THEN
        PERFORM pg_notify('walletops_jobs', '');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS job_logs_notify_insert ON job_logs;
CREATE TRIGGER job_logs_notify_insert
    AFTER INSERT ON job_logs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_notify_jobs();
DROP TRIGGER IF EXISTS job_logs_notify_update ON job_logs;
CREATE TRIGGER job_logs_notify_update
    AFTER UPDATE ON job_logs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_notify_jobs();

-- Runtime switches (workers.paused above all) reach every process at once;
-- the payload is the changed key, or '*' when several changed.
CREATE OR REPLACE FUNCTION walletops_notify_config() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed text[];
BEGIN
    SELECT array_agg(DISTINCT key) INTO changed FROM new_rows;
    IF changed IS NOT NULL THEN
        PERFORM pg_notify('walletops_config',
                          CASE WHEN cardinality(changed) = 1 THEN changed[1] ELSE '*' END);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS system_config_notify_insert ON system_config;
CREATE TRIGGER system_config_notify_insert
    AFTER INSERT ON system_config REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_notify_config();
DROP TRIGGER IF EXISTS system_config_notify_update ON system_config;
CREATE TRIGGER system_config_notify_update
    AFTER UPDATE ON system_config REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_notify_config();

-- ---------------------------------------------------------------------------
-- Indexes.
-- ---------------------------------------------------------------------------

-- The oldest due pending job (health) and the next due time (worker sleep).
CREATE INDEX IF NOT EXISTS job_logs_pending_due ON job_logs (run_at) WHERE status = 'pending';

-- Every claim and completion writes a new row version into every index
-- whose predicate it meets (status is indexed, so these updates are never
-- HOT): the indexes below keep that number down.

-- The dead-letter list, newest first; other statuses are served by the
-- partial pending/processing indexes or by job_logs_created_id.
CREATE INDEX IF NOT EXISTS job_logs_failed_created
    ON job_logs (created_at DESC, id DESC) WHERE status = 'failed';
-- Counts come from job_counts now; this index only slowed every write.
DROP INDEX IF EXISTS job_logs_status_type;

-- Newest-first job lists page by (created_at, id).
CREATE INDEX IF NOT EXISTS job_logs_created_id ON job_logs (created_at DESC, id DESC);
DROP INDEX IF EXISTS job_logs_created;

-- Search by wallet address prefix; text_pattern_ops also serves equality.
-- Jobs without a wallet or user need no entry (equality and LIKE imply
-- NOT NULL, so the planner uses these partial indexes for them).
CREATE INDEX IF NOT EXISTS job_logs_wallet_address_pattern
    ON job_logs (wallet_address text_pattern_ops) WHERE wallet_address IS NOT NULL;
DROP INDEX IF EXISTS job_logs_wallet_address;
DROP INDEX IF EXISTS job_logs_wallet_id;
CREATE INDEX job_logs_wallet_id ON job_logs (wallet_id) WHERE wallet_id IS NOT NULL;
DROP INDEX IF EXISTS job_logs_user_id;
CREATE INDEX job_logs_user_id ON job_logs (user_id) WHERE user_id IS NOT NULL;

-- locked_by stays set on finished jobs (who ran it last), so this index
-- took an entry on every claim and completion; it only served deleting a
-- workers row (ON DELETE SET NULL), which walletops never does in normal
-- operation. Such a delete now scans job_logs once.
DROP INDEX IF EXISTS job_logs_locked_by;

-- ---------------------------------------------------------------------------
-- The claim, as a function so that its plan is always the ordered scan of
-- job_logs_claim that stops after p_limit rows. Without statistics (a table
-- just bulk-loaded) the planner otherwise picks a bitmap scan of every
-- pending row plus a sort: a claim whose cost grows with the backlog.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_claim(p_worker uuid, p_limit integer, p_lease_seconds float8)
RETURNS SETOF job_logs
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
BEGIN
    RETURN QUERY
    WITH picked AS (
        SELECT id FROM job_logs
         WHERE status = 'pending' AND run_at <= now()
         ORDER BY priority DESC, run_at, id
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE job_logs j
           SET status = 'processing', locked_by = p_worker,
               locked_until = now() + make_interval(secs => p_lease_seconds),
               attempt = j.attempt + 1, started_at = now(), finished_at = NULL,
               updated_at = now()
          FROM picked
         WHERE j.id = picked.id
        RETURNING j.*
    )
    SELECT * FROM claimed;
END
$$;

-- ---------------------------------------------------------------------------
-- Outcomes and lease renewals by (id, attempt, holder), as functions for the
-- same reason: their plan must not depend on statistics. A nested loop here
-- is a trap: with stale statistics (a million finished jobs, none processing
-- at ANALYZE time) the planner scanned the lease index in the outer loop and
-- the arrays in the inner one, 250 ms per batch of 1000. With nested loops
-- and sequential scans off, the only plan is a hash join of the arrays with
-- the processing jobs read through the lease index: linear in the batch
-- plus the jobs held.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_finish(
    p_worker uuid, p_ids uuid[], p_attempts integer[], p_kinds text[], p_errors text[],
    p_untils timestamptz[], p_backoff_base float8, p_backoff_cap float8)
RETURNS TABLE (id uuid, status text)
LANGUAGE plpgsql
SET enable_nestloop = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    RETURN QUERY
    WITH done AS (
        UPDATE job_logs j
           SET status = CASE
                   WHEN o.kind = 'complete' THEN 'completed'
                   WHEN o.kind = 'snooze' THEN 'pending'
                   WHEN o.kind = 'fail'
                     OR coalesce(j.retry_count, 0) + 1 >= coalesce(j.max_retries, 3) THEN 'failed'
                   ELSE 'pending' END,
               retry_count = CASE WHEN o.kind IN ('retry', 'fail')
                                  THEN coalesce(j.retry_count, 0) + 1 ELSE j.retry_count END,
               error_message = CASE o.kind WHEN 'complete' THEN NULL
                                           WHEN 'snooze' THEN j.error_message
                                           ELSE o.error END,
               run_at = CASE
                   WHEN o.kind = 'snooze' THEN o.until
                   WHEN o.kind = 'retry'
                    AND coalesce(j.retry_count, 0) + 1 < coalesce(j.max_retries, 3)
                   THEN now() + make_interval(secs =>
                       least(p_backoff_cap, p_backoff_base * power(2, coalesce(j.retry_count, 0)))
                       * (1 - random() / 4))
                   ELSE j.run_at END,
               finished_at = CASE
                   WHEN o.kind IN ('complete', 'fail')
                     OR (o.kind = 'retry'
                         AND coalesce(j.retry_count, 0) + 1 >= coalesce(j.max_retries, 3))
                   THEN now() END,
               locked_until = NULL,
               updated_at = now()
          FROM unnest(p_ids, p_attempts, p_kinds, p_errors, p_untils)
               AS o(id, attempt, kind, error, until)
         WHERE j.id = o.id AND j.attempt = o.attempt AND j.locked_by = p_worker
           AND j.status = 'processing'
        RETURNING j.id, j.status
    )
    SELECT done.id, done.status FROM done;
END
$$;

CREATE OR REPLACE FUNCTION walletops_renew(
    p_worker uuid, p_ids uuid[], p_attempts integer[], p_lease_seconds float8)
RETURNS SETOF uuid
LANGUAGE plpgsql
SET enable_nestloop = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    RETURN QUERY
    WITH renewed AS (
        UPDATE job_logs j
           SET locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
          FROM unnest(p_ids, p_attempts) AS h(id, attempt)
         WHERE j.id = h.id AND j.attempt = h.attempt AND j.locked_by = p_worker
           AND j.status = 'processing'
        RETURNING j.id
    )
    SELECT renewed.id FROM renewed;
END
$$;
