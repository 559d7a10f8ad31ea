-- Fewer writes per job. A job's row is written three times (enqueue, claim,
-- outcome), and none of those updates is HOT (status is indexed), so every
-- index whose predicate a row version meets takes a new entry, and every
-- statement trigger with transition tables runs once per statement.

-- ---------------------------------------------------------------------------
-- One active job per (wallet, job type): jobs without a wallet never
-- conflict (NULLs are distinct), so their entries enforced nothing.
-- Enqueue's ON CONFLICT names the same predicate.
-- ---------------------------------------------------------------------------

DROP INDEX IF EXISTS job_logs_one_active_per_wallet;
CREATE UNIQUE INDEX job_logs_one_active_per_wallet
    ON job_logs (wallet_address, job_type)
    WHERE status IN ('pending', 'processing') AND wallet_address IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Time-ordered job ids (UUID version 7: 48 bits of Unix milliseconds, then
-- random bits), so that new jobs' primary-key entries land together at one
-- end of the index instead of on random leaf pages of a large table: with a
-- million finished jobs retained, random ids made bulk enqueue a quarter
-- slower (random page reads, and a full-page image in the WAL for each leaf
-- first touched after a checkpoint). Existing ids are kept.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    -- A random (version 4) UUID with its first 6 bytes replaced by the time
    -- and its version nibble turned from 4 (0100) into 7 (0111).
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                      FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

ALTER TABLE job_logs ALTER COLUMN id SET DEFAULT walletops_uuid_v7();

-- ---------------------------------------------------------------------------
-- The holder of a claim is checked once per claim, not once per row: the
-- foreign key from job_logs.locked_by to workers ran a referential check
-- (and took a KEY SHARE lock on the worker's row, which its heartbeat
-- updates every second) for every job claimed, a fifth of a claim's time.
-- locked_by now names the worker that last held the job even if that
-- worker's row is deleted later; leases, not the workers table, decide
-- whether a job is held.
-- ---------------------------------------------------------------------------

ALTER TABLE job_logs DROP CONSTRAINT IF EXISTS job_logs_locked_by_fkey;

CREATE OR REPLACE FUNCTION walletops_claim(p_worker uuid, p_limit integer, p_lease_seconds float8)
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
-- The earliest pending job, from the claim index instead of a second
-- pending index (job_logs_pending_due took an entry on every enqueue). The
-- claim index is ordered by priority first, so this visits the first entry
-- of each priority present: a handful of index reads, whatever the backlog.
-- Serves the worker's sleep (next due time) and health (oldest due job).
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_earliest_pending() RETURNS SETOF job_logs
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
DECLARE
    p smallint;
    candidate job_logs;
    best job_logs;
BEGIN
    SELECT priority INTO p FROM job_logs
     WHERE status = 'pending'
     ORDER BY priority DESC, run_at, id LIMIT 1;
    WHILE p IS NOT NULL LOOP
        SELECT * INTO candidate FROM job_logs
         WHERE status = 'pending' AND priority = p
         ORDER BY priority DESC, run_at, id LIMIT 1;
        IF best.id IS NULL OR candidate.run_at < best.run_at THEN
            best := candidate;
        END IF;
        SELECT priority INTO p FROM job_logs
         WHERE status = 'pending' AND priority < candidate.priority
         ORDER BY priority DESC, run_at, id LIMIT 1;
    END LOOP;
    IF best.id IS NOT NULL THEN
        RETURN NEXT best;
    END IF;
END
$$;

DROP INDEX IF EXISTS job_logs_pending_due;

-- ---------------------------------------------------------------------------
-- One statement trigger per event instead of two or three, each reading
-- the transition tables once: maintained counts (0002), the workers'
-- wake-up (0002) and the consoles' state-change notification (0004).
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_job_logs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, job_type, n)
    SELECT coalesce(status, ''), coalesce(job_type, ''), count(*)
      FROM new_rows GROUP BY 1, 2;
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'pending') THEN
        PERFORM pg_notify('walletops_jobs', '');
    END IF;
    RETURN NULL;
END
$$;

-- Old rows count -1, new rows +1; what nets to zero (a heartbeat, a lease
-- renewal) writes nothing. A status change that nets to zero (two jobs of
-- one type swapping statuses) is still found by the join on id.
CREATE OR REPLACE FUNCTION walletops_job_logs_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    counted bigint;
BEGIN
    WITH deltas AS (
        INSERT INTO job_count_deltas (status, job_type, n)
        SELECT s, t, sum(d) FROM (
            SELECT coalesce(status, '') AS s, coalesce(job_type, '') AS t, -1 AS d FROM old_rows
            UNION ALL
            SELECT coalesce(status, ''), coalesce(job_type, ''), 1 FROM new_rows
        ) changes
        GROUP BY s, t
        HAVING sum(d) <> 0
        RETURNING 1
    )
    SELECT count(*) INTO counted FROM deltas;
    IF counted > 0 THEN
        PERFORM pg_notify('walletops_job_states', '');
    ELSIF EXISTS (
        SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.status IS DISTINCT FROM o.status
    ) THEN
        PERFORM pg_notify('walletops_job_states', '');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'pending') THEN
        PERFORM pg_notify('walletops_jobs', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_job_logs_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    counted bigint;
BEGIN
    WITH deltas AS (
        INSERT INTO job_count_deltas (status, job_type, n)
        SELECT coalesce(status, ''), coalesce(job_type, ''), -count(*)
          FROM old_rows GROUP BY 1, 2
        RETURNING 1
    )
    SELECT count(*) INTO counted FROM deltas;
    IF counted > 0 THEN
        PERFORM pg_notify('walletops_job_states', '');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS job_logs_counts_insert ON job_logs;
DROP TRIGGER IF EXISTS job_logs_notify_insert ON job_logs;
DROP TRIGGER IF EXISTS job_logs_counts_update ON job_logs;
DROP TRIGGER IF EXISTS job_logs_notify_update ON job_logs;
DROP TRIGGER IF EXISTS job_logs_notify_states ON job_logs;
DROP TRIGGER IF EXISTS job_logs_counts_delete ON job_logs;
DROP TRIGGER IF EXISTS job_logs_notify_deletes ON job_logs;
DROP TRIGGER IF EXISTS job_logs_inserted ON job_logs;
DROP TRIGGER IF EXISTS job_logs_updated ON job_logs;
DROP TRIGGER IF EXISTS job_logs_deleted ON job_logs;

CREATE TRIGGER job_logs_inserted
    AFTER INSERT ON job_logs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_logs_inserted();
CREATE TRIGGER job_logs_updated
    AFTER UPDATE ON job_logs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_logs_updated();
CREATE TRIGGER job_logs_deleted
    AFTER DELETE ON job_logs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_job_logs_deleted();

DROP FUNCTION IF EXISTS walletops_job_counts_insert();
DROP FUNCTION IF EXISTS walletops_job_counts_update();
DROP FUNCTION IF EXISTS walletops_job_counts_delete();
DROP FUNCTION IF EXISTS walletops_notify_jobs();
DROP FUNCTION IF EXISTS walletops_notify_job_states();
