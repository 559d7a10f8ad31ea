-- walletops access control: grants and row-level security for the group
-- roles walletops_admin, walletops_worker and walletops_viewer.
--
-- Who is who:
-- - walletops_admin: everything (the audit trail stays append-only by trigger).
-- - walletops_worker: jobs, wallets, workers, wallet transactions and transfer
--   records (never deletes a transfer record); reads the runtime switches;
--   never writes the audit trail, the operators or the API tokens.
-- - walletops_viewer: SELECT only, and never the key material or token hashes.
--
-- The table owner (the user that runs these migrations, and the one a
-- single-user deployment connects as) is trusted: row-level security is
-- ENABLEd but not FORCEd, so the owner's own statements are unaffected and the
-- application's role checks (the `admin` module) govern it. The append-only
-- trigger on admin_actions binds the owner regardless.
--
-- Where the group roles could not be created (managed services), nothing here
-- is granted; the application's checks remain and `walletops serve` says so.
--
-- Later migrations that add tables call walletops_secure_tables() again.

-- Thresholds the health check needs beyond those of 0001.
INSERT INTO system_config (key, value, description) VALUES
    ('health.failure_rate_min_jobs', '10', 'Jobs that must have finished in the last 15 minutes before the failure rate can make health Degraded or Down.')
ON CONFLICT (key) DO NOTHING;

CREATE OR REPLACE FUNCTION walletops_secure_tables() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    worker_writes text;
    viewer_columns text;
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_worker', 'walletops_viewer')) < 3 THEN
        RAISE NOTICE 'walletops: group roles are missing; database grants and row-level security are not applied';
        RETURN false;
    END IF;

    GRANT USAGE ON SCHEMA public TO walletops_admin, walletops_worker, walletops_viewer;

    -- auth.users belongs to Supabase's auth service where it exists: grant on
    -- it where we may, never alter it.
    BEGIN
        GRANT USAGE ON SCHEMA auth TO walletops_admin, walletops_worker, walletops_viewer;
        GRANT SELECT ON auth.users TO walletops_admin, walletops_worker, walletops_viewer;
        GRANT INSERT, UPDATE ON auth.users TO walletops_admin;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'walletops: may not grant on auth.users; its owner decides who reads it';
    END;

    FOR t IN
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p')
           AND c.relname <> '_sqlx_migrations'
           AND pg_get_userbyid(c.relowner) = current_user
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);

        -- Grants decide which statements each role may run; the policies
        -- below let the rows through for the roles that hold the grant.
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO walletops_admin', t);

        worker_writes := CASE
            WHEN t IN ('admin_actions', 'operators', 'api_tokens', 'system_config') THEN NULL
            -- Transfer records outlive every job: workers never delete them.
            WHEN t IN ('transfers', 'wallet_transactions') THEN 'INSERT, UPDATE'
            -- Wallets are created by import (an admin's act); workers update balances and state.
            WHEN t = 'user_wallets' THEN 'UPDATE'
            -- job_logs, workers, and the queue's own tables.
            ELSE 'INSERT, UPDATE, DELETE'
        END;
        IF t = 'api_tokens' THEN
            -- Nothing but the admin needs the tokens; hashes stay out of reach.
            NULL;
        ELSE
            EXECUTE format('GRANT SELECT ON %I TO walletops_worker', t);
        END IF;
        IF worker_writes IS NOT NULL THEN
            EXECUTE format('GRANT %s ON %I TO walletops_worker', worker_writes, t);
        END IF;

        -- The viewer reads every column but key material and token hashes.
        SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
          INTO viewer_columns
          FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = t
           AND NOT (t = 'user_wallets' AND column_name IN ('encrypted_key', 'key_nonce'))
           AND NOT (t = 'api_tokens' AND column_name = 'token_hash');
        EXECUTE format('GRANT SELECT (%s) ON %I TO walletops_viewer', viewer_columns, t);

        IF NOT EXISTS (SELECT 1 FROM pg_policies
                        WHERE schemaname = 'public' AND tablename = t AND policyname = 'walletops_read') THEN
            EXECUTE format(
                'CREATE POLICY walletops_read ON %I FOR SELECT
                   TO walletops_admin, walletops_worker, walletops_viewer USING (true)', t);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies
                        WHERE schemaname = 'public' AND tablename = t AND policyname = 'walletops_admin_write') THEN
            IF t = 'admin_actions' THEN
                -- Audit rows are written as they happen, not backdated.
                EXECUTE format(
                    'CREATE POLICY walletops_admin_write ON %I FOR INSERT TO walletops_admin
                       WITH CHECK (created_at >= now() - interval ''1 minute'')', t);
            ELSE
                EXECUTE format(
                    'CREATE POLICY walletops_admin_write ON %I FOR ALL TO walletops_admin
                       USING (true) WITH CHECK (true)', t);
            END IF;
        END IF;
        IF worker_writes IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pg_policies
                WHERE schemaname = 'public' AND tablename = t AND policyname = 'walletops_worker_write') THEN
            EXECUTE format(
                'CREATE POLICY walletops_worker_write ON %I FOR ALL TO walletops_worker
                   USING (true) WITH CHECK (true)', t);
        END IF;
    END LOOP;
    RETURN true;
END
$$;

SELECT walletops_secure_tables();
