-- Job state changes reach consoles and event streams at once, not on their
-- next timer: one notification per statement that moved any job to another
-- status (a batch of completions sends one). Workers do not listen here:
-- completions must not wake them (they listen on walletops_jobs).

CREATE OR REPLACE FUNCTION walletops_notify_job_states() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('walletops_job_states', '');
    ELSIF EXISTS (
        SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.status IS DISTINCT FROM o.status
    ) THEN
        PERFORM pg_notify('walletops_job_states', '');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS job_logs_notify_states ON job_logs;
CREATE TRIGGER job_logs_notify_states
    AFTER UPDATE ON job_logs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_notify_job_states();
DROP TRIGGER IF EXISTS job_logs_notify_deletes ON job_logs;
CREATE TRIGGER job_logs_notify_deletes
    AFTER DELETE ON job_logs
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_notify_job_states();
