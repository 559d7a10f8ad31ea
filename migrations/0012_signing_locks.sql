-- The in-process signer's per-kind lock is a row that only workers may lock.
--
-- Signing counts today's transfers of a kind and signs under one lock per
-- kind, so that two workers cannot both fit under a cap only one fits under.
-- That lock was an advisory lock, which any login may take (advisory locks
-- need no grant): a wall screen's viewer login could hold it and stall every
-- signature of that kind. A row lock (SELECT ... FOR UPDATE, or an upsert)
-- needs UPDATE rights on the table, which only the worker group (and the
-- owner) hold.

CREATE TABLE IF NOT EXISTS signing_locks (
    kind text PRIMARY KEY
);

INSERT INTO signing_locks (kind)
VALUES ('consolidation-usdt'), ('consolidation-trx'), ('gas-topup')
ON CONFLICT (kind) DO NOTHING;

-- Granted here rather than by walletops_secure_tables(): calling that again
-- would hand back the default grants that 0008 and 0009 narrowed. Workers
-- INSERT (a kind added later gets its row) and UPDATE (to lock it); the other
-- groups only read, so they cannot lock it.
ALTER TABLE signing_locks ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON signing_locks FROM PUBLIC;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) = 4 THEN
        GRANT SELECT ON signing_locks TO walletops_admin, walletops_operator, walletops_viewer;
        GRANT SELECT, INSERT, UPDATE ON signing_locks TO walletops_worker;
        CREATE POLICY walletops_all ON signing_locks FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
    END IF;
END
$$;
