-- Crash churn. A worker holds jobs it claimed ahead of a free slot
-- (prefetched) as well as the ones it runs. When it died, the lease rescue
-- counted a retry for every job it held, so repeated kills dead-lettered
-- jobs that had never started. A job that never started now loses no retry:
--
-- - a claim sets started_at only on the jobs that take a free slot at once
--   (p_start of them, in claim order); the others keep started_at NULL;
-- - when a slot frees for a prefetched job, the worker sets its started_at
--   (walletops_start) before its handler runs, under the job's lease;
-- - the rescue (in the queue's code) gives a leased job whose started_at is
--   NULL back as pending without counting a retry.
--
-- The three-argument walletops_claim stays as it was (it starts every job it
-- claims), for workers of the previous version during a rolling upgrade.

CREATE OR REPLACE FUNCTION walletops_claim(
    p_worker uuid, p_limit integer, p_lease_seconds float8, p_start integer)
RETURNS SETOF job_logs
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM workers WHERE id = p_worker) THEN
        RAISE EXCEPTION 'worker % is not registered', p_worker
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'a worker inserts its row into workers before it claims jobs';
    END IF;
    RETURN QUERY
    WITH picked AS (
        SELECT id FROM job_logs
         WHERE status = 'pending' AND run_at <= now()
         ORDER BY priority DESC, run_at, id
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    ), ranked AS (
        -- Row locks and window functions cannot share one SELECT. Numbered
        -- in the order picked, without a sort: a sort here, priced as
        -- disabled, made the planner JIT-compile every claim (1.5 s). Which
        -- jobs start first is only a matter of order; the caller goes by
        -- started_at.
        SELECT id, row_number() OVER () AS n FROM picked
    ), claimed AS (
        UPDATE job_logs j
           SET status = 'processing', locked_by = p_worker,
               locked_until = now() + make_interval(secs => p_lease_seconds),
               attempt = j.attempt + 1,
               started_at = CASE WHEN ranked.n <= p_start THEN now() END,
               finished_at = NULL, updated_at = now()
          FROM ranked
         WHERE j.id = ranked.id
        RETURNING j.*
    )
    SELECT * FROM claimed;
END
$$;

-- Marks held attempts started. Guarded like a renewal, and by a lease that
-- has not run out: a job whose lease lapsed (its worker was stopped, say)
-- may be rescued at any moment, so it must not start. Returns the ids
-- started; an attempt missing from the answer must not run. The plan is
-- pinned like walletops_renew's (migration 0002 says why).
CREATE OR REPLACE FUNCTION walletops_start(p_worker uuid, p_ids uuid[], p_attempts integer[])
RETURNS SETOF uuid
LANGUAGE plpgsql
SET enable_nestloop = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    RETURN QUERY
    WITH started AS (
        UPDATE job_logs j
           SET started_at = now(), updated_at = now()
          FROM unnest(p_ids, p_attempts) AS h(id, attempt)
         WHERE j.id = h.id AND j.attempt = h.attempt AND j.locked_by = p_worker
           AND j.status = 'processing' AND j.locked_until > now()
        RETURNING j.id
    )
    SELECT started.id FROM started;
END
$$;
