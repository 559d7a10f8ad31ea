-- The maintenance leader holds a lease in a row only workers may write.
--
-- Leadership was a session advisory lock, which any login may take
-- (advisory locks need no grant): a wall screen's viewer login could hold it
-- and stop lease rescue, retention, periodic syncs and the applying of
-- approved changes for as long as it liked. Now the leader is whoever
-- holds an unexpired lease on this one row, and only the worker group (and
-- the owner) may UPDATE it.

CREATE TABLE IF NOT EXISTS maintenance_leader (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder uuid,
    renewed_at timestamptz
);

INSERT INTO maintenance_leader (singleton) VALUES (true) ON CONFLICT DO NOTHING;

-- Granted here rather than by walletops_secure_tables(), whose defaults
-- would undo what 0008 and 0009 narrowed (see 0012).
ALTER TABLE maintenance_leader ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON maintenance_leader FROM PUBLIC;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) = 4 THEN
        GRANT SELECT ON maintenance_leader TO walletops_admin, walletops_operator, walletops_viewer;
        GRANT SELECT, UPDATE ON maintenance_leader TO walletops_worker;
        CREATE POLICY walletops_all ON maintenance_leader FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
    END IF;
END
$$;
