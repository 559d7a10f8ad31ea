-- Security events: what the funds policy refused at the moment of signing
-- (issue 12). Workers record them and can never change or remove them;
-- health stays Down while one is not acknowledged, and only an admin (or the
-- owner) acknowledges, by adding a row to security_acks. Both tables are
-- append-only for everyone, the owner included.

CREATE TABLE IF NOT EXISTS security_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL CHECK (kind IN ('policy-refusal')),
    -- The policy rule that refused (walletops' Rule names).
    rule text NOT NULL,
    message text NOT NULL,
    job_id uuid,
    wallet_id uuid
);
CREATE INDEX IF NOT EXISTS security_events_created ON security_events (created_at DESC);

CREATE TABLE IF NOT EXISTS security_acks (
    event_id uuid PRIMARY KEY REFERENCES security_events(id) ON DELETE RESTRICT,
    acknowledged_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_by uuid,
    note text
);

-- The daily caps count today's transfers of a kind: an index keeps that
-- cheap however long the transfer history grows.
CREATE INDEX IF NOT EXISTS transfers_kind_created ON transfers (kind, created_at);

CREATE OR REPLACE FUNCTION walletops_security_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- A worker login may record events but never acknowledge them, whatever
-- grants a later walletops_secure_tables() hands out.
CREATE OR REPLACE FUNCTION walletops_security_ack_by_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_worker')
       AND pg_has_role(current_user, 'walletops_worker', 'MEMBER')
       AND NOT (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_admin')
                AND pg_has_role(current_user, 'walletops_admin', 'MEMBER')) THEN
        RAISE EXCEPTION 'only an admin acknowledges security events'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['security_events', 'security_acks']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t || '_append_only') THEN
            EXECUTE format(
                'CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I
                 FOR EACH ROW EXECUTE FUNCTION walletops_security_append_only()',
                t || '_append_only', t);
            EXECUTE format(
                'CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                 FOR EACH STATEMENT EXECUTE FUNCTION walletops_security_append_only()',
                t || '_no_truncate', t);
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'security_acks_by_admin') THEN
        CREATE TRIGGER security_acks_by_admin BEFORE INSERT ON security_acks
            FOR EACH ROW EXECUTE FUNCTION walletops_security_ack_by_admin();
    END IF;
END
$$;

SELECT walletops_secure_tables();

-- Narrower than walletops_secure_tables' default for the worker: it records
-- refusals and reads acknowledgements, nothing more.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_worker') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON security_events FROM walletops_worker;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON security_acks FROM walletops_worker;
    END IF;
END
$$;
