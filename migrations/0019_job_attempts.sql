-- 0019: every attempt of a job that did not succeed, and what a transfer cost.
--
-- A job row keeps only its last error and its last worker, so an operator
-- could not see why a job failed three times on three hosts. An attempt
-- that ends other than in success (a retry, a failure, a lease rescue)
-- leaves one row here, written by the same statement that ends it, with the
-- worker's host:pid as it was then (worker rows are deleted later). A
-- successful attempt is the job row itself: the success path writes nothing
-- more than before. A snooze ("not yet") is no failed attempt and is not
-- recorded. Rows go with their job (retention, clear failed).

CREATE TABLE IF NOT EXISTS job_attempts (
    job_id uuid NOT NULL REFERENCES job_logs(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    -- host:pid of the worker that held the attempt; NULL for a job taken
    -- from no worker (a row set to processing by plain SQL).
    worker text,
    started_at timestamptz,
    ended_at timestamptz NOT NULL DEFAULT now(),
    outcome text NOT NULL CHECK (outcome IN ('retry', 'failed', 'rescued')),
    error text,
    PRIMARY KEY (job_id, attempt)
);

-- What the chain burned for a mined transfer (bandwidth, energy,
-- activation), in SUN; NULL until resolved, and for older records.
ALTER TABLE transfers ADD COLUMN IF NOT EXISTS fee_sun bigint;

ALTER TABLE job_attempts ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON job_attempts FROM PUBLIC;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) = 4 THEN
        GRANT SELECT ON job_attempts TO walletops_admin, walletops_operator, walletops_viewer,
                                        walletops_worker;
        -- Workers end attempts; operators and admins rescue expired leases
        -- (reset processing), which ends attempts too.
        GRANT INSERT ON job_attempts TO walletops_worker, walletops_operator, walletops_admin;
        CREATE POLICY walletops_all ON job_attempts FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
        -- The chain's fee for a resolved transfer (below): 0007 grants the
        -- groups SELECT column by column; workers read whole tables.
        GRANT SELECT (fee_sun) ON transfers TO walletops_admin, walletops_operator, walletops_viewer;
    END IF;
END
$$;

-- walletops_finish (0002) with the attempt history: a batch holding only
-- completions and snoozes runs the statement of 0002 unchanged, so the
-- success path costs what it did; a batch with a retry or a failure also
-- records those attempts in the same statement.
CREATE OR REPLACE FUNCTION walletops_finish(
    p_worker uuid, p_ids uuid[], p_attempts integer[], p_kinds text[], p_errors text[],
    p_untils timestamptz[], p_backoff_base float8, p_backoff_cap float8)
RETURNS TABLE (id uuid, status text)
LANGUAGE plpgsql
SET enable_nestloop = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_worker text;
BEGIN
    IF NOT ('retry' = ANY (p_kinds) OR 'fail' = ANY (p_kinds)) THEN
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
        RETURN;
    END IF;
    SELECT w.host || ':' || w.pid INTO v_worker FROM workers w WHERE w.id = p_worker;
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
        RETURNING j.id, j.status, j.attempt, j.started_at, o.kind, o.error
    ), logged AS (
        INSERT INTO job_attempts (job_id, attempt, worker, started_at, outcome, error)
        SELECT done.id, done.attempt, v_worker, done.started_at,
               CASE done.status WHEN 'failed' THEN 'failed' ELSE 'retry' END, done.error
          FROM done
         WHERE done.kind IN ('retry', 'fail')
        ON CONFLICT DO NOTHING
    )
    SELECT done.id, done.status FROM done;
END
$$;
