-- 0017: the workers' access to the TRON node.
--
-- A node that refuses the workers' credentials (HTTP 401 or 403: a wrong,
-- missing or revoked API key) fails every job that needs it. Such a job
-- fails at once instead of spending its retries, and the refusal is
-- recorded here so that health is Down until a job completes with the
-- node again. One row at most (id is always true).

CREATE TABLE IF NOT EXISTS tron_access (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    denied_at timestamptz NOT NULL,
    message text NOT NULL,
    job_id uuid,
    -- Set when a job next completed: the credentials work again.
    cleared_at timestamptz
);

-- Granted here rather than by walletops_secure_tables() (see 0012): workers
-- record and clear the refusal, the other groups read it for health.
ALTER TABLE tron_access ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON tron_access FROM PUBLIC;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) = 4 THEN
        GRANT SELECT ON tron_access TO walletops_admin, walletops_operator, walletops_viewer;
        GRANT SELECT, INSERT, UPDATE ON tron_access TO walletops_worker;
        CREATE POLICY walletops_all ON tron_access FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
    END IF;
END
$$;
