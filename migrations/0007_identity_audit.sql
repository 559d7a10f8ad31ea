-- Who acts is proven, and every change leaves a trace nobody can forge or skip.
--
-- 1. Identity: an operator is mapped to a database login (operators.db_login);
--    the database reads session_user, never a claimed name. Over the HTTP API
--    the caller presents its token to the database's own functions, which
--    verify its hash themselves.
-- 2. The database enforces the roles: the group roles get only what they need
--    (walletops_secure_tables() is redefined below); configuration, tokens
--    and app-level audit rows change only through SECURITY DEFINER functions
--    that find the actor themselves.
-- 3. The audit trail is written by triggers on everything that governs money
--    or access, stamped by the database (login, operator, server clock) and
--    hash-chained: each row's hash covers its content and its predecessor's
--    hash; audit_head holds the newest (seq, hash) and serialises writers.

SELECT walletops_ensure_role('walletops_operator');

ALTER TABLE operators ADD COLUMN IF NOT EXISTS db_login text;
CREATE UNIQUE INDEX IF NOT EXISTS operators_db_login ON operators (db_login);

-- ---------------------------------------------------------------------------
-- Audit rows: chain columns. `external` marks a change that did not go
-- through walletops' functions (plain SQL): health is Degraded until an
-- admin acknowledges it (an `audit.ack` row naming its seq).
-- ---------------------------------------------------------------------------

ALTER TABLE admin_actions
    ADD COLUMN IF NOT EXISTS seq bigint,
    ADD COLUMN IF NOT EXISTS db_login text,
    ADD COLUMN IF NOT EXISTS external boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS prev_hash bytea,
    ADD COLUMN IF NOT EXISTS row_hash bytea;

CREATE TABLE IF NOT EXISTS audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq bigint NOT NULL,
    row_hash bytea NOT NULL
);

-- Who acts in the current transaction, written only by walletops_act*()
-- (no grant to anyone else), read by the audit triggers. Rows of finished
-- transactions are never matched again and are purged by the next act.
CREATE UNLOGGED TABLE IF NOT EXISTS audit_context (
    xact xid8 PRIMARY KEY,
    user_id uuid,
    actor jsonb NOT NULL
);

-- The bytes a row's hash covers, after its predecessor's hash: each field as
-- a 4-byte big-endian length and its UTF-8 text (length -1 for NULL).
-- `walletops audit verify` recomputes the same in Rust.
CREATE OR REPLACE FUNCTION walletops_audit_field(v text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN '\xffffffff'::bytea
                ELSE int4send(octet_length(convert_to(v, 'UTF8'))) || convert_to(v, 'UTF8') END
$$;

CREATE OR REPLACE FUNCTION walletops_audit_hash(
    p_prev bytea, p_seq bigint, p_id uuid, p_created_at timestamptz, p_db_login text,
    p_user uuid, p_action text, p_target_type text, p_target_id text, p_details jsonb,
    p_external boolean) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(
        p_prev
        || walletops_audit_field(p_seq::text)
        || walletops_audit_field(p_id::text)
        || walletops_audit_field((extract(epoch FROM p_created_at) * 1000000)::bigint::text)
        || walletops_audit_field(p_db_login)
        || walletops_audit_field(p_user::text)
        || walletops_audit_field(p_action)
        || walletops_audit_field(p_target_type)
        || walletops_audit_field(p_target_id)
        || walletops_audit_field(p_details::text)
        || walletops_audit_field(CASE WHEN p_external THEN 't' ELSE 'f' END))
$$;

-- Existing rows join the chain in the order they were written. The
-- append-only trigger is lifted for this one statement of the owner's.
ALTER TABLE admin_actions DISABLE TRIGGER admin_actions_append_only;
DO $$
DECLARE
    r record;
    prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    n bigint := 0;
BEGIN
    IF EXISTS (SELECT 1 FROM audit_head) THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM admin_actions ORDER BY created_at NULLS FIRST, id LOOP
        n := n + 1;
        UPDATE admin_actions
           SET seq = n, prev_hash = prev,
               row_hash = walletops_audit_hash(prev, n, r.id, r.created_at, r.db_login,
                                               r.admin_user_id, r.action_type, r.target_type,
                                               r.target_id, r.details, r.external)
         WHERE id = r.id
        RETURNING row_hash INTO prev;
    END LOOP;
    INSERT INTO audit_head (seq, row_hash) VALUES (n, prev);
END
$$;
ALTER TABLE admin_actions ENABLE TRIGGER admin_actions_append_only;

CREATE UNIQUE INDEX IF NOT EXISTS admin_actions_seq ON admin_actions (seq);
-- Health's question: which external changes are not acknowledged yet.
CREATE INDEX IF NOT EXISTS admin_actions_external ON admin_actions (seq) WHERE external;
CREATE INDEX IF NOT EXISTS admin_actions_acks ON admin_actions (target_id)
    WHERE action_type = 'audit.ack' AND NOT external;

-- ---------------------------------------------------------------------------
-- The actor. A token, when given, must be live and names its creator; else
-- the session's login must be linked to a live operator. session_user is the
-- authenticated login (SET ROLE does not change it). Errors: 28000 unknown
-- identity, 42501 no right.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_role_rank(r text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE r WHEN 'viewer' THEN 1 WHEN 'operator' THEN 2 WHEN 'admin' THEN 3 ELSE 0 END
$$;

CREATE OR REPLACE FUNCTION walletops_act(p_token text DEFAULT NULL, p_need text DEFAULT 'viewer')
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_user uuid;
    v_role text;
    v_actor jsonb;
    t api_tokens;
    v_email text;
BEGIN
    IF p_token IS NOT NULL THEN
        SELECT * INTO t FROM api_tokens
         WHERE token_hash = sha256(convert_to(p_token, 'UTF8'))
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());
        IF t.id IS NULL THEN
            RAISE EXCEPTION 'unknown, revoked or expired token' USING ERRCODE = '28000';
        END IF;
        v_user := t.created_by;
        v_role := t.role;
        v_actor := jsonb_build_object('via', 'token', 'token_id', t.id, 'token_name', t.name,
                                      'role', t.role, 'db_login', session_user::text);
    ELSE
        SELECT o.user_id, o.role, u.email INTO v_user, v_role, v_email
          FROM operators o JOIN auth.users u ON u.id = o.user_id
         WHERE o.db_login = session_user::text AND o.revoked_at IS NULL;
        IF v_user IS NULL THEN
            RAISE EXCEPTION 'database login % is not an operator', session_user
                USING ERRCODE = '28000',
                      HINT = 'the database owner links it: walletops operators add EMAIL --role ROLE --login ' || session_user;
        END IF;
        v_actor := jsonb_build_object('via', 'login', 'operator', v_email, 'role', v_role,
                                      'db_login', session_user::text);
    END IF;
    IF walletops_role_rank(v_role) < walletops_role_rank(p_need) THEN
        RAISE EXCEPTION '% (%) may not do this: it needs the % role', coalesce(v_email, t.name), v_role, p_need
            USING ERRCODE = '42501';
    END IF;
    DELETE FROM audit_context WHERE xact <> pg_current_xact_id();
    INSERT INTO audit_context (xact, user_id, actor) VALUES (pg_current_xact_id(), v_user, v_actor)
    ON CONFLICT (xact) DO UPDATE SET user_id = EXCLUDED.user_id, actor = EXCLUDED.actor;
    RETURN v_role;
END
$$;

-- The database owner acting through walletops (operators, key import): its
-- changes are walletops' own, not plain SQL.
CREATE OR REPLACE FUNCTION walletops_act_owner() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = 'operators'::regclass), 'USAGE') THEN
        RAISE EXCEPTION 'login % does not own the walletops tables', session_user USING ERRCODE = '42501';
    END IF;
    DELETE FROM audit_context WHERE xact <> pg_current_xact_id();
    INSERT INTO audit_context (xact, user_id, actor)
    VALUES (pg_current_xact_id(),
            (SELECT user_id FROM operators WHERE db_login = session_user::text AND revoked_at IS NULL),
            jsonb_build_object('via', 'database-owner', 'db_login', session_user::text))
    ON CONFLICT (xact) DO UPDATE SET user_id = EXCLUDED.user_id, actor = EXCLUDED.actor;
END
$$;

-- ---------------------------------------------------------------------------
-- Stamping and chaining. Whatever the inserter wrote, the row gets the
-- server's clock, the session's login, the actor of the transaction's
-- walletops action (or, without one, the login's operator and external =
-- true), the next seq, and its hash. The lock on audit_head's row is held
-- to commit, so seq order is commit order.
-- ---------------------------------------------------------------------------

-- The chain's progress within the current transaction: one row per audit
-- row written (owner-only, like audit_context). The head's row is locked at
-- the transaction's first audit row and moved once, at commit: updating it
-- for every row made a bulk change of n rows cost O(n^2) (every update of
-- one row in one transaction lengthens the chain of versions the next must
-- walk).
CREATE UNLOGGED TABLE IF NOT EXISTS audit_progress (
    xact xid8 NOT NULL,
    seq bigint NOT NULL,
    row_hash bytea NOT NULL,
    PRIMARY KEY (xact, seq)
);

CREATE OR REPLACE FUNCTION walletops_audit_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ctx audit_context;
    head audit_head;
    last_seq bigint;
    last_hash bytea;
    details jsonb;
BEGIN
    SELECT * INTO ctx FROM audit_context WHERE xact = pg_current_xact_id();
    details := CASE WHEN jsonb_typeof(NEW.details) = 'object' THEN NEW.details
                    WHEN NEW.details IS NULL THEN '{}'::jsonb
                    ELSE jsonb_build_object('value', NEW.details) END;
    NEW.created_at := clock_timestamp();
    NEW.db_login := session_user::text;
    IF ctx.xact IS NOT NULL THEN
        NEW.admin_user_id := ctx.user_id;
        NEW.external := false;
        NEW.details := details || jsonb_build_object('actor', ctx.actor);
    ELSIF current_setting('walletops.migrating', true) = 'on'
          AND pg_has_role(session_user, (SELECT relowner FROM pg_class
                                          WHERE oid = 'admin_actions'::regclass), 'USAGE') THEN
        -- `walletops migrate` (db::migrate says so; believed of the owner only).
        NEW.admin_user_id := NULL;
        NEW.external := false;
        NEW.details := details || jsonb_build_object(
            'actor', jsonb_build_object('via', 'migration', 'db_login', session_user::text));
    ELSE
        NEW.admin_user_id := (SELECT user_id FROM operators WHERE db_login = session_user::text);
        NEW.external := true;
        NEW.details := details || jsonb_build_object(
            'actor', jsonb_build_object('via', 'sql', 'db_login', session_user::text));
    END IF;
    SELECT p.seq, p.row_hash INTO last_seq, last_hash FROM audit_progress p
     WHERE p.xact = pg_current_xact_id() ORDER BY p.seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        -- The transaction's first audit row: take the head, held to commit.
        SELECT * INTO head FROM audit_head FOR UPDATE;
        IF head.seq IS NULL THEN
            RAISE EXCEPTION 'audit_head is missing: the audit chain cannot continue'
                USING ERRCODE = 'data_corrupted';
        END IF;
        DELETE FROM audit_progress WHERE xact <> pg_current_xact_id();
        last_seq := head.seq;
        last_hash := head.row_hash;
    END IF;
    NEW.seq := last_seq + 1;
    NEW.prev_hash := last_hash;
    NEW.row_hash := walletops_audit_hash(NEW.prev_hash, NEW.seq, NEW.id, NEW.created_at,
                                         NEW.db_login, NEW.admin_user_id, NEW.action_type,
                                         NEW.target_type, NEW.target_id, NEW.details, NEW.external);
    INSERT INTO audit_progress (xact, seq, row_hash)
    VALUES (pg_current_xact_id(), NEW.seq, NEW.row_hash);
    PERFORM pg_notify('walletops_admin', jsonb_build_object(
        'id', NEW.id, 'seq', NEW.seq, 'action_type', NEW.action_type,
        'target_type', NEW.target_type, 'target_id', NEW.target_id,
        'created_at', NEW.created_at)::text);
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS admin_actions_stamp ON admin_actions;
CREATE TRIGGER admin_actions_stamp
    BEFORE INSERT ON admin_actions
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_stamp();

-- At commit, the head moves to the transaction's last row (once: the other
-- rows' firings find it there already).
CREATE OR REPLACE FUNCTION walletops_audit_move_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    p audit_progress;
BEGIN
    SELECT * INTO p FROM audit_progress
     WHERE xact = pg_current_xact_id() ORDER BY seq DESC LIMIT 1;
    IF p.seq IS NOT NULL THEN
        UPDATE audit_head SET seq = p.seq, row_hash = p.row_hash WHERE seq <> p.seq;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS admin_actions_move_head ON admin_actions;
CREATE CONSTRAINT TRIGGER admin_actions_move_head
    AFTER INSERT ON admin_actions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_move_head();

-- The head may only move with a new row.
CREATE OR REPLACE FUNCTION walletops_audit_head_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_head moves only with a new audit row: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_head_guard ON audit_head;
CREATE TRIGGER audit_head_guard
    BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_head_guard();

-- ---------------------------------------------------------------------------
-- Change triggers: what governs money or access is recorded by the database
-- whoever changes it and however. Never key material or token hashes.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_audit_row(
    p_action text, p_target_type text, p_target_id text, p_details jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO admin_actions (action_type, target_type, target_id, details)
    VALUES (p_action, p_target_type, p_target_id, p_details);
$$;

CREATE OR REPLACE FUNCTION walletops_audit_config() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM walletops_audit_row('config.insert', 'system_config', NEW.key,
            jsonb_build_object('key', NEW.key, 'new', NEW.value));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM walletops_audit_row('config.delete', 'system_config', OLD.key,
            jsonb_build_object('key', OLD.key, 'old', OLD.value));
    ELSE
        PERFORM walletops_audit_row(
            CASE WHEN NEW.key = 'workers.paused' AND OLD.key = 'workers.paused'
                 THEN CASE WHEN NEW.value = 'true'::jsonb THEN 'workers.pause' ELSE 'workers.start' END
                 ELSE 'config.set' END,
            'system_config', NEW.key,
            jsonb_build_object('key', NEW.key, 'old', OLD.value, 'new', NEW.value)
            || CASE WHEN NEW.key IS DISTINCT FROM OLD.key
                    THEN jsonb_build_object('old_key', OLD.key) ELSE '{}'::jsonb END);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_audit_wallets() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM walletops_audit_row('wallet.import', 'wallet', NEW.id::text,
            jsonb_build_object('address', NEW.address, 'role', NEW.role, 'user_id', NEW.user_id,
                               'key', CASE WHEN NEW.encrypted_key IS NULL THEN 'none' ELSE 'set' END));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM walletops_audit_row('wallet.delete', 'wallet', OLD.id::text,
            jsonb_build_object('address', OLD.address, 'role', OLD.role, 'user_id', OLD.user_id));
    ELSE
        PERFORM walletops_audit_row('wallet.update', 'wallet', NEW.id::text,
            jsonb_build_object(
                'address', NEW.address,
                'old', jsonb_build_object('address', OLD.address, 'role', OLD.role, 'user_id', OLD.user_id),
                'new', jsonb_build_object('address', NEW.address, 'role', NEW.role, 'user_id', NEW.user_id),
                'key', CASE WHEN OLD.encrypted_key IS DISTINCT FROM NEW.encrypted_key
                              OR OLD.key_nonce IS DISTINCT FROM NEW.key_nonce
                            THEN 'changed' ELSE 'unchanged' END));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_audit_operators() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    email text := (SELECT u.email FROM auth.users u
                    WHERE u.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END);
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM walletops_audit_row('operator.add', 'operator', NEW.user_id::text,
            jsonb_build_object('email', email, 'role', NEW.role, 'db_login', NEW.db_login,
                               'previous_role', NULL));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM walletops_audit_row('operator.delete', 'operator', OLD.user_id::text,
            jsonb_build_object('email', email, 'role', OLD.role, 'db_login', OLD.db_login));
    ELSIF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
        PERFORM walletops_audit_row('operator.remove', 'operator', NEW.user_id::text,
            jsonb_build_object('email', email, 'role', OLD.role, 'db_login', OLD.db_login));
    ELSE
        PERFORM walletops_audit_row('operator.add', 'operator', NEW.user_id::text,
            jsonb_build_object('email', email, 'role', NEW.role, 'db_login', NEW.db_login,
                               'previous_role', CASE WHEN OLD.revoked_at IS NULL THEN OLD.role END,
                               'previous_db_login', OLD.db_login));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_audit_tokens() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM walletops_audit_row('token.create', 'api_token', NEW.id::text,
            jsonb_build_object('name', NEW.name, 'role', NEW.role, 'expires_at', NEW.expires_at));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM walletops_audit_row('token.delete', 'api_token', OLD.id::text,
            jsonb_build_object('name', OLD.name, 'role', OLD.role));
    ELSIF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
        PERFORM walletops_audit_row('token.revoke', 'api_token', NEW.id::text,
            jsonb_build_object('name', NEW.name, 'role', NEW.role));
    ELSE
        PERFORM walletops_audit_row('token.update', 'api_token', NEW.id::text,
            jsonb_build_object(
                'name', NEW.name,
                'old', jsonb_build_object('role', OLD.role, 'expires_at', OLD.expires_at,
                                          'revoked_at', OLD.revoked_at, 'name', OLD.name),
                'new', jsonb_build_object('role', NEW.role, 'expires_at', NEW.expires_at,
                                          'revoked_at', NEW.revoked_at, 'name', NEW.name),
                'token_hash', CASE WHEN OLD.token_hash IS DISTINCT FROM NEW.token_hash
                                   THEN 'changed' ELSE 'unchanged' END));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION walletops_audit_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM walletops_audit_row('table.truncate', TG_TABLE_NAME, NULL, '{}'::jsonb);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS system_config_audit ON system_config;
CREATE TRIGGER system_config_audit
    AFTER INSERT OR DELETE OR UPDATE ON system_config
    FOR EACH ROW
    EXECUTE FUNCTION walletops_audit_config();
DROP TRIGGER IF EXISTS user_wallets_audit_insert_delete ON user_wallets;
CREATE TRIGGER user_wallets_audit_insert_delete
    AFTER INSERT OR DELETE ON user_wallets
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_wallets();
DROP TRIGGER IF EXISTS user_wallets_audit_update ON user_wallets;
CREATE TRIGGER user_wallets_audit_update
    AFTER UPDATE OF address, role, user_id, encrypted_key, key_nonce ON user_wallets
    FOR EACH ROW
    WHEN (OLD.address IS DISTINCT FROM NEW.address OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.encrypted_key IS DISTINCT FROM NEW.encrypted_key
          OR OLD.key_nonce IS DISTINCT FROM NEW.key_nonce)
    EXECUTE FUNCTION walletops_audit_wallets();
DROP TRIGGER IF EXISTS operators_audit ON operators;
CREATE TRIGGER operators_audit
    AFTER INSERT OR DELETE OR UPDATE ON operators
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_operators();
DROP TRIGGER IF EXISTS api_tokens_audit_insert_delete ON api_tokens;
CREATE TRIGGER api_tokens_audit_insert_delete
    AFTER INSERT OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION walletops_audit_tokens();
DROP TRIGGER IF EXISTS api_tokens_audit_update ON api_tokens;
-- last_used_at alone is not a change of access.
CREATE TRIGGER api_tokens_audit_update
    AFTER UPDATE ON api_tokens
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.token_hash IS DISTINCT FROM NEW.token_hash
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.created_by IS DISTINCT FROM NEW.created_by)
    EXECUTE FUNCTION walletops_audit_tokens();
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['system_config', 'user_wallets', 'operators', 'api_tokens'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_audit_truncate', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION walletops_audit_truncate()',
                       t || '_audit_truncate', t);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- The only ways a non-owner changes configuration, tokens, or writes an
-- audit row of its own. p_token: the API token the HTTP server was
-- presented (NULL in direct-database mode: the login decides).
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_config_set(p_key text, p_value jsonb, p_token text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    old_value jsonb;
    found_key boolean;
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    SELECT true, value INTO found_key, old_value FROM system_config WHERE key = p_key FOR UPDATE;
    IF found_key IS NULL THEN
        IF p_key <> 'workers.paused' THEN
            RAISE EXCEPTION 'no configuration key %', quote_literal(p_key) USING ERRCODE = 'P0002';
        END IF;
        INSERT INTO system_config (key, value, description)
        VALUES (p_key, 'false', 'When true, workers claim no new jobs; jobs in flight finish.');
        old_value := 'false';
    END IF;
    UPDATE system_config SET value = p_value, updated_at = now() WHERE key = p_key;
    PERFORM pg_notify('walletops_control', jsonb_build_object('key', p_key, 'value', p_value)::text);
    RETURN old_value;
END
$$;

CREATE OR REPLACE FUNCTION walletops_token_create(
    p_name text, p_role text, p_hash bytea, p_expires_at timestamptz, p_token text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
        RAISE EXCEPTION 'the expiry is in the past' USING ERRCODE = '22023';
    END IF;
    INSERT INTO api_tokens (name, role, token_hash, created_by, expires_at)
    VALUES (p_name, p_role, p_hash,
            (SELECT user_id FROM audit_context WHERE xact = pg_current_xact_id()), p_expires_at)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION walletops_token_revoke(p_id uuid, p_token text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    UPDATE api_tokens SET revoked_at = now() WHERE id = p_id AND revoked_at IS NULL;
    RETURN FOUND;
END
$$;

-- The HTTP server's authentication: the token's identity, if live; notes
-- its use at most once a minute (not audited: not a change of access).
CREATE OR REPLACE FUNCTION walletops_token_identity(p_token text)
RETURNS TABLE (id uuid, name text, role text, created_by uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN QUERY
    UPDATE api_tokens t
       SET last_used_at = CASE WHEN t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'
                               THEN now() ELSE t.last_used_at END
     WHERE t.token_hash = sha256(convert_to(p_token, 'UTF8'))
       AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
    RETURNING t.id, t.name, t.role, t.created_by;
END
$$;

-- App-level audit rows (job actions): the actor is found here, the right
-- checked against the action.
CREATE OR REPLACE FUNCTION walletops_audit(
    p_action text, p_target_type text, p_target_id text, p_details jsonb, p_token text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_id uuid;
BEGIN
    IF p_action NOT IN ('job.dispatch', 'job.retry', 'job.cancel', 'jobs.clear_failed',
                        'jobs.reset_processing') THEN
        RAISE EXCEPTION '% is not an action walletops_audit records', quote_literal(p_action)
            USING ERRCODE = '22023';
    END IF;
    PERFORM walletops_act(p_token, 'operator');
    INSERT INTO admin_actions (action_type, target_type, target_id, details)
    VALUES (p_action, p_target_type, p_target_id, p_details)
    RETURNING admin_actions.id INTO v_id;
    RETURN v_id;
END
$$;

-- Acknowledges an external change (admin); itself an audit row.
CREATE OR REPLACE FUNCTION walletops_audit_ack(p_seq bigint, p_token text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    target admin_actions;
    v_id uuid;
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    SELECT * INTO target FROM admin_actions WHERE seq = p_seq;
    IF target.id IS NULL THEN
        RAISE EXCEPTION 'no audit row with seq %', p_seq USING ERRCODE = 'P0002';
    END IF;
    IF NOT target.external THEN
        RAISE EXCEPTION 'audit row % was made through walletops: nothing to acknowledge', p_seq
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO admin_actions (action_type, target_type, target_id, details)
    VALUES ('audit.ack', 'admin_actions', p_seq::text,
            jsonb_build_object('acknowledged', jsonb_build_object(
                'seq', target.seq, 'action_type', target.action_type,
                'target_type', target.target_type, 'target_id', target.target_id,
                'db_login', target.db_login)))
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- Acknowledges every unacknowledged external change up to p_seq (admin),
-- one audit.ack row each; returns how many.
CREATE OR REPLACE FUNCTION walletops_audit_ack_through(p_seq bigint, p_token text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    INSERT INTO admin_actions (action_type, target_type, target_id, details)
    SELECT 'audit.ack', 'admin_actions', a.seq::text,
           jsonb_build_object('acknowledged', jsonb_build_object(
               'seq', a.seq, 'action_type', a.action_type, 'target_type', a.target_type,
               'target_id', a.target_id, 'db_login', a.db_login), 'through', p_seq)
      FROM admin_actions a
     WHERE a.external AND a.seq <= p_seq
       AND NOT EXISTS (SELECT 1 FROM admin_actions k
                        WHERE k.action_type = 'audit.ack' AND NOT k.external
                          AND k.target_id = a.seq::text)
     ORDER BY a.seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The owner's helper for `walletops operators add`: creates the login if
-- missing (LOGIN, no password: the site's pg_hba decides how it proves
-- itself) and makes it a member of exactly one walletops group. Not a
-- definer: it runs with the owner's own rights.
CREATE OR REPLACE FUNCTION walletops_link_login(p_login text, p_group text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    created boolean := false;
BEGIN
    IF p_login LIKE 'walletops\_%' OR p_login IN ('public', 'pg_database_owner') OR p_login LIKE 'pg\_%' THEN
        RAISE EXCEPTION '% cannot be an operator''s login', quote_ident(p_login) USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN', p_login);
            created := true;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_group) THEN
        PERFORM walletops_unlink_login(p_login);
        EXECUTE format('GRANT %I TO %I', p_group, p_login);
    ELSE
        RAISE NOTICE 'walletops: group role % is missing; the login gets no database rights', p_group;
    END IF;
    RETURN created;
END
$$;

CREATE OR REPLACE FUNCTION walletops_unlink_login(p_login text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    g text;
BEGIN
    IF p_login IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
        RETURN;
    END IF;
    FOREACH g IN ARRAY ARRAY['walletops_admin', 'walletops_operator', 'walletops_viewer'] LOOP
        IF EXISTS (SELECT 1 FROM pg_auth_members m
                     JOIN pg_roles r ON r.oid = m.roleid
                     JOIN pg_roles l ON l.oid = m.member
                    WHERE r.rolname = g AND l.rolname = p_login) THEN
            EXECUTE format('REVOKE %I FROM %I', g, p_login);
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Grants, redefined: each group gets what it needs and nothing more.
-- - viewer: SELECT, never key material or token hashes.
-- - operator: the viewer's reads; writes jobs (dispatch, retry, cancel,
--   clear, reset) and a wallet's processing flag (reset).
-- - admin: the operator's rights; configuration, tokens and the audit trail
--   only through the functions above.
-- - worker: jobs, workers, transfer records, wallet transactions; on wallets
--   only balances, sync state and the processing flag; reads keys (it signs).
-- Nobody but the owner writes admin_actions, audit_head, audit_context,
-- operators, api_tokens or system_config directly.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_secure_tables() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    groups text := 'walletops_admin, walletops_operator, walletops_worker, walletops_viewer';
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) < 4 THEN
        RAISE NOTICE 'walletops: group roles are missing; database grants and row-level security are not applied';
        RETURN false;
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA public TO %s', groups);
    BEGIN
        EXECUTE format('GRANT USAGE ON SCHEMA auth TO %s', groups);
        EXECUTE format('GRANT SELECT ON auth.users TO %s', groups);
        -- Users are created by the owner (operators add, key import).
        REVOKE INSERT, UPDATE ON auth.users FROM walletops_admin;
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
        EXECUTE format('REVOKE ALL ON %I FROM %s', t, groups);
        IF t NOT IN ('audit_context', 'audit_progress') THEN
            -- Every column but key material and token hashes.
            EXECUTE format('GRANT SELECT (%s) ON %I TO walletops_admin, walletops_operator, walletops_viewer',
                (SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
                   FROM information_schema.columns
                  WHERE table_schema = 'public' AND table_name = t
                    AND NOT (t = 'user_wallets' AND column_name IN ('encrypted_key', 'key_nonce'))
                    AND NOT (t = 'api_tokens' AND column_name = 'token_hash')), t);
        END IF;
        IF t NOT IN ('api_tokens', 'audit_context', 'audit_progress') THEN
            EXECUTE format('GRANT SELECT ON %I TO walletops_worker', t);
        END IF;

        IF t IN ('job_logs', 'job_count_deltas', 'job_counts') THEN
            EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %I TO walletops_admin, walletops_operator', t);
        ELSIF t = 'user_wallets' THEN
            GRANT UPDATE (is_processing, processing_job_id, processing_since, updated_at)
               ON user_wallets TO walletops_admin, walletops_operator;
        END IF;

        IF t IN ('transfers', 'wallet_transactions') THEN
            -- Transfer records outlive every job: workers never delete them.
            EXECUTE format('GRANT INSERT, UPDATE ON %I TO walletops_worker', t);
        ELSIF t = 'user_wallets' THEN
            GRANT UPDATE (trx_balance_sun, usdt_balance, last_synced_at, sync_status, sync_error,
                          is_processing, processing_job_id, processing_since, updated_at)
               ON user_wallets TO walletops_worker;
        ELSIF t NOT IN ('admin_actions', 'audit_head', 'audit_context', 'audit_progress',
                        'operators', 'api_tokens', 'system_config') THEN
            -- job_logs, workers, and the queue's own tables.
            EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %I TO walletops_worker', t);
        END IF;

        -- Grants decide which statements each role may run; one permissive
        -- policy per command lets the rows through for those who hold them.
        EXECUTE format('DROP POLICY IF EXISTS walletops_read ON %I', t);
        EXECUTE format('DROP POLICY IF EXISTS walletops_admin_write ON %I', t);
        EXECUTE format('DROP POLICY IF EXISTS walletops_worker_write ON %I', t);
        EXECUTE format('DROP POLICY IF EXISTS walletops_all ON %I', t);
        EXECUTE format('CREATE POLICY walletops_all ON %I FOR ALL TO %s USING (true) WITH CHECK (true)',
                       t, groups);
    END LOOP;

    -- Functions: nobody runs them by default; the groups run what they need.
    REVOKE ALL ON FUNCTION walletops_act(text, text), walletops_act_owner(),
        walletops_config_set(text, jsonb, text),
        walletops_token_create(text, text, bytea, timestamptz, text),
        walletops_token_revoke(uuid, text), walletops_token_identity(text),
        walletops_audit(text, text, text, jsonb, text), walletops_audit_ack(bigint, text),
        walletops_audit_ack_through(bigint, text), walletops_audit_row(text, text, text, jsonb),
        walletops_link_login(text, text), walletops_unlink_login(text) FROM PUBLIC;
    -- Each group may call what its role could use; the functions check the
    -- actor again (a token's role, or the login's operator row).
    GRANT EXECUTE ON FUNCTION walletops_config_set(text, jsonb, text),
        walletops_token_create(text, text, bytea, timestamptz, text),
        walletops_token_revoke(uuid, text), walletops_audit_ack(bigint, text),
        walletops_audit_ack_through(bigint, text)
        TO walletops_admin;
    GRANT EXECUTE ON FUNCTION walletops_audit(text, text, text, jsonb, text)
        TO walletops_admin, walletops_operator;
    GRANT EXECUTE ON FUNCTION walletops_token_identity(text)
        TO walletops_admin, walletops_operator, walletops_viewer;
    RETURN true;
END
$$;

SELECT walletops_secure_tables();
