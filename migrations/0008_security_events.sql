-- Security events: what the funds policy refused at the moment of signing
-- (issue 12). Workers record them and can never change or remove them;
-- health stays Down while one is not acknowledged. Only an admin
-- acknowledges, through walletops_security_ack(), which proves the actor
-- itself (walletops_act, migration 0007) and leaves an audit row; a row
-- slipped into security_acks by plain SQL is audited too, as external. Both
-- tables are append-only for everyone, the owner included.

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

-- Every acknowledgement is an audit row, however it was written: through
-- walletops_security_ack() it names the proven actor; by plain SQL it is
-- stamped external and health says so until an admin looks.
CREATE OR REPLACE FUNCTION walletops_audit_security_ack() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM walletops_audit_row('security.ack', 'security_events', NEW.event_id::text,
        (SELECT jsonb_build_object('rule', e.rule, 'message', e.message, 'job_id', e.job_id,
                                   'wallet_id', e.wallet_id, 'note', NEW.note)
           FROM security_events e WHERE e.id = NEW.event_id));
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS security_acks_audit ON security_acks;
CREATE TRIGGER security_acks_audit AFTER INSERT ON security_acks
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_security_ack();

-- The only way a non-owner acknowledges: one event, or every unacknowledged
-- one (p_event NULL). The database finds the actor (the login's operator, or
-- the API token's) and requires the admin role. Returns the events
-- acknowledged, oldest first; none is an error (P0002).
CREATE OR REPLACE FUNCTION walletops_security_ack(p_event uuid, p_note text, p_token text DEFAULT NULL)
RETURNS SETOF uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    RETURN QUERY
    INSERT INTO security_acks (event_id, acknowledged_by, note)
    SELECT e.id, (SELECT c.user_id FROM audit_context c WHERE c.xact = pg_current_xact_id()), p_note
      FROM security_events e
     WHERE (p_event IS NULL OR e.id = p_event)
       AND NOT EXISTS (SELECT 1 FROM security_acks a WHERE a.event_id = e.id)
     ORDER BY e.created_at, e.id
    RETURNING event_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION '%', CASE WHEN p_event IS NULL THEN 'no unacknowledged security event'
                                  ELSE 'no unacknowledged security event ' || p_event END
            USING ERRCODE = 'P0002';
    END IF;
END
$$;

-- A payout address (treasury, gas wallet) set through walletops is never the
-- token contract nor one of our deposit wallets: the obvious mistake is
-- refused at once, whoever asks (CLI, API, or a login calling
-- walletops_config_set() itself). The owner's plain SQL is not stopped here:
-- the audit trail flags it as external, and the signing host's funds policy
-- refuses such a payout anyway (it is the real guard).
CREATE OR REPLACE FUNCTION walletops_config_payout_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_address text;
BEGIN
    IF NEW.key NOT IN ('consolidation.treasury_address', 'gas.wallet_address')
       OR jsonb_typeof(NEW.value) IS DISTINCT FROM 'string'
       OR NOT EXISTS (SELECT 1 FROM audit_context WHERE xact = pg_current_xact_id()) THEN
        RETURN NEW;
    END IF;
    v_address := NEW.value #>> '{}';
    IF EXISTS (SELECT 1 FROM system_config
                WHERE key = 'tron.usdt_contract' AND value = to_jsonb(v_address)) THEN
        RAISE EXCEPTION '% cannot be the USDT contract % itself', NEW.key, v_address
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM user_wallets WHERE address = v_address AND role = 'deposit') THEN
        RAISE EXCEPTION '% cannot be %: it is one of our deposit wallets', NEW.key, v_address
            USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS system_config_payout_check ON system_config;
CREATE TRIGGER system_config_payout_check BEFORE INSERT OR UPDATE ON system_config
    FOR EACH ROW EXECUTE FUNCTION walletops_config_payout_check();

-- Migration 0007's grants for the new tables (never a copy of it).
SELECT walletops_secure_tables();

-- Narrower than walletops_secure_tables' default for the worker: it records
-- refusals and reads acknowledgements, nothing more. Admins and operators
-- got reads only: an acknowledgement goes through walletops_security_ack().
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_worker') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON security_events FROM walletops_worker;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON security_acks FROM walletops_worker;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION walletops_security_ack(uuid, text, text) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_admin') THEN
        GRANT EXECUTE ON FUNCTION walletops_security_ack(uuid, text, text) TO walletops_admin;
    END IF;
END
$$;
