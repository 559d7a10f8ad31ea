-- Changes that need two people and time.
--
-- The keys that move money (walletops_money_key()) change only by a
-- proposal: one admin proposes, a different admin approves, and the value
-- takes effect once policy.change_delay_seconds have passed since the
-- approval. Any admin may cancel until then.
--
-- What holds it, in the database rather than the application:
-- - config_proposals is written only by the SECURITY DEFINER functions
--   below (restrictive row-level security refuses every direct write by a
--   non-owner, whatever a later grant says), and a trigger that binds even
--   the owner lets a proposal only start pending and move forward
--   (pending -> approved -> applied, or -> cancelled), stamps every time with
--   the server's clock, and never lets the proposer be the approver.
-- - The actor is proven by 0007's walletops_act() (the session's login, or
--   the API token whose hash it checks), which also names the actor to the
--   audit trail for the transaction.
-- - A trigger on system_config refuses any write of a money key but the
--   application of a due proposal in the same transaction
--   (walletops_apply_due_proposals()), and the owner's own writes outside an
--   operator's walletops action. So neither plain SQL by the admin group nor
--   walletops_config_set() (`config set`) can change a payout address.
-- - Every step writes its audit row in the same transaction, from inside
--   the function, so that calling the functions by hand leaves the same
--   trace as the CLI, the console or the API.
-- - Applying names itself to the audit trail in audit_context (which only
--   definer functions write; 0007's stamp trigger reads it) with the
--   approving admin, so that the change is not flagged external, and records
--   its transaction id on the proposal (applied_xact): the system_config
--   trigger's proof, which plain SQL cannot forge.

-- The keys that move money: where funds go (treasury), where top-ups come
-- from (gas wallet), which token contract transfers call, how much TRX a
-- top-up sends and a transfer may burn, and the delay that guards them all.
CREATE OR REPLACE FUNCTION walletops_money_key(p_key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_key IN ('consolidation.treasury_address', 'gas.wallet_address', 'tron.usdt_contract',
                     'gas.topup_sun', 'tron.fee_limit_sun', 'policy.change_delay_seconds')
$$;

-- The configured delay in seconds; 24 h when missing or unreadable.
CREATE OR REPLACE FUNCTION walletops_change_delay() RETURNS bigint
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT coalesce(
        (SELECT CASE WHEN jsonb_typeof(value) = 'number' AND (value #>> '{}')::numeric >= 0
                     THEN (value #>> '{}')::numeric::bigint END
           FROM system_config WHERE key = 'policy.change_delay_seconds'),
        86400)
$$;

CREATE TABLE IF NOT EXISTS config_proposals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL CHECK (walletops_money_key(key)),
    -- The proposed value; JSON null ('null') unsets an address.
    value jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'applied', 'cancelled')),
    proposed_by uuid NOT NULL REFERENCES auth.users(id),
    proposed_at timestamptz NOT NULL DEFAULT now(),
    approved_by uuid REFERENCES auth.users(id),
    approved_at timestamptz,
    -- policy.change_delay_seconds when it was approved (a later, longer
    -- delay also holds it back; a shorter one does not hurry it).
    delay_seconds bigint CHECK (delay_seconds >= 0),
    cancelled_by uuid REFERENCES auth.users(id),
    cancelled_at timestamptz,
    applied_at timestamptz,
    -- The transaction that applied it: the system_config guard's proof.
    applied_xact xid8,
    -- The value it replaced.
    old_value jsonb,
    CONSTRAINT config_proposals_two_people CHECK (approved_by <> proposed_by),
    CONSTRAINT config_proposals_consistent CHECK (CASE status
        WHEN 'pending' THEN approved_at IS NULL AND cancelled_at IS NULL AND applied_at IS NULL
        WHEN 'approved' THEN approved_by IS NOT NULL AND approved_at IS NOT NULL
                         AND delay_seconds IS NOT NULL AND cancelled_at IS NULL AND applied_at IS NULL
        WHEN 'applied' THEN approved_by IS NOT NULL AND approved_at IS NOT NULL
                        AND cancelled_at IS NULL AND applied_at IS NOT NULL
                        AND extract(epoch FROM applied_at)
                            >= extract(epoch FROM approved_at) + delay_seconds
        WHEN 'cancelled' THEN cancelled_by IS NOT NULL AND cancelled_at IS NOT NULL AND applied_at IS NULL
    END)
);

-- One open proposal per key: two approved values racing for one key would
-- make the outcome depend on timing.
CREATE UNIQUE INDEX IF NOT EXISTS config_proposals_one_open
    ON config_proposals (key) WHERE status IN ('pending', 'approved');
CREATE INDEX IF NOT EXISTS config_proposals_recent ON config_proposals (proposed_at DESC);

-- ---------------------------------------------------------------------------
-- The life of a proposal, for everyone including the owner.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_config_proposals_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'config_proposals keeps its history: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending' OR NEW.approved_by IS NOT NULL OR NEW.approved_at IS NOT NULL
           OR NEW.cancelled_by IS NOT NULL OR NEW.cancelled_at IS NOT NULL
           OR NEW.applied_at IS NOT NULL OR NEW.applied_xact IS NOT NULL THEN
            RAISE EXCEPTION 'a proposal starts pending: it is approved by another admin, never inserted approved'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        NEW.proposed_at := now();
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.key, NEW.value, NEW.proposed_by, NEW.proposed_at)
       IS DISTINCT FROM (OLD.id, OLD.key, OLD.value, OLD.proposed_by, OLD.proposed_at) THEN
        RAISE EXCEPTION 'what a proposal proposes, and who proposed it, never changes'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'pending' AND NEW.status = 'approved' THEN
        NEW.approved_at := now();
    ELSIF OLD.status IN ('pending', 'approved') AND NEW.status = 'cancelled' THEN
        NEW.cancelled_at := now();
    ELSIF OLD.status = 'approved' AND NEW.status = 'applied' THEN
        NEW.applied_at := now();
    ELSE
        RAISE EXCEPTION 'a proposal cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- What an earlier step recorded stays as it was.
    IF OLD.status = 'approved'
       AND (NEW.approved_by, NEW.approved_at, NEW.delay_seconds)
           IS DISTINCT FROM (OLD.approved_by, OLD.approved_at, OLD.delay_seconds) THEN
        RAISE EXCEPTION 'an approval, once given, is not rewritten'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS config_proposals_guard ON config_proposals;
CREATE TRIGGER config_proposals_guard
    BEFORE INSERT OR UPDATE OR DELETE ON config_proposals
    FOR EACH ROW EXECUTE FUNCTION walletops_config_proposals_guard();
DROP TRIGGER IF EXISTS config_proposals_no_truncate ON config_proposals;
CREATE TRIGGER config_proposals_no_truncate
    BEFORE TRUNCATE ON config_proposals
    FOR EACH STATEMENT EXECUTE FUNCTION walletops_config_proposals_guard();

-- ---------------------------------------------------------------------------
-- Money keys in system_config: only a due proposal being applied in this
-- transaction, or the owner outside an operator's walletops action (the
-- first values of a new deployment; `walletops migrate`), may write them.
-- session_user is the login (a definer function does not change it), so
-- this holds inside any function the admin group may call as well,
-- walletops_config_set() included.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_money_key_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_via text := (SELECT actor ->> 'via' FROM audit_context WHERE xact = pg_current_xact_id());
BEGIN
    IF TG_OP = 'INSERT' AND NOT walletops_money_key(NEW.key) THEN
        RETURN NEW;
    ELSIF TG_OP = 'DELETE' AND NOT walletops_money_key(OLD.key) THEN
        RETURN OLD;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT walletops_money_key(OLD.key) AND NOT walletops_money_key(NEW.key) THEN
            RETURN NEW;
        END IF;
        IF OLD.key = NEW.key AND OLD.value IS NOT DISTINCT FROM NEW.value THEN
            RETURN NEW;
        END IF;
        IF OLD.key = NEW.key AND EXISTS (
               SELECT 1 FROM config_proposals
                WHERE key = NEW.key AND value = NEW.value AND status = 'applied'
                  AND applied_xact = pg_current_xact_id()) THEN
            RETURN NEW;
        END IF;
    END IF;
    -- The owner may write the table anyway; what it does as an operator
    -- (an admin's login that owns the tables, as in the demo) follows the
    -- operators' rule.
    IF pg_has_role(session_user,
                   (SELECT relowner FROM pg_class WHERE oid = 'system_config'::regclass), 'USAGE')
       AND v_via IS DISTINCT FROM 'login' AND v_via IS DISTINCT FROM 'token' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION '% moves money: it changes only by a proposal that a second admin approves, after policy.change_delay_seconds',
        CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'walletops config propose KEY VALUE, then another admin: walletops config approve ID';
END
$$;

DROP TRIGGER IF EXISTS system_config_money_keys ON system_config;
CREATE TRIGGER system_config_money_keys
    BEFORE INSERT OR UPDATE OR DELETE ON system_config
    FOR EACH ROW EXECUTE FUNCTION walletops_money_key_guard();

-- ---------------------------------------------------------------------------
-- Who acts: walletops_act() proves it (a live token's creator, or the
-- operator linked to session_user) and names it to the audit trail for the
-- transaction. Two people need two persons: the actor must be a live admin
-- operator (a token made by nobody, or by an admin since removed, is not
-- one). Errors: 28000 unknown identity, 42501 no right.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_proposal_actor(p_token text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_user uuid;
BEGIN
    PERFORM walletops_act(p_token, 'admin');
    SELECT user_id INTO v_user FROM audit_context WHERE xact = pg_current_xact_id();
    IF v_user IS NULL OR NOT EXISTS (
           SELECT 1 FROM operators WHERE user_id = v_user AND role = 'admin' AND revoked_at IS NULL) THEN
        RAISE EXCEPTION 'only a live admin may propose, approve or cancel a change that moves money, and this token names none'
            USING ERRCODE = '42501';
    END IF;
    RETURN v_user;
END
$$;

-- The audit row of a step, in the caller's transaction (0007's stamp
-- trigger names the actor from audit_context), announced on the proposals
-- channel (/api/events).
CREATE OR REPLACE FUNCTION walletops_proposal_audit(p_action text, p config_proposals)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_due timestamptz := p.approved_at + make_interval(secs => greatest(p.delay_seconds, walletops_change_delay()));
BEGIN
    INSERT INTO admin_actions (action_type, target_id, target_type, details)
    VALUES (p_action, p.id::text, 'config_proposal',
            jsonb_build_object(
                'key', p.key, 'value', p.value, 'old', p.old_value, 'status', p.status,
                'proposed_by', p.proposed_by, 'approved_by', p.approved_by,
                'cancelled_by', p.cancelled_by,
                'due_at', CASE WHEN p.status = 'approved' THEN v_due END));
    PERFORM pg_notify('walletops_proposals', jsonb_build_object(
        'id', p.id, 'key', p.key, 'status', p.status,
        'due_at', CASE WHEN p.status = 'approved' THEN v_due END)::text);
END
$$;

CREATE OR REPLACE FUNCTION walletops_proposal_create(p_key text, p_value jsonb, p_token text DEFAULT NULL)
RETURNS config_proposals
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor uuid := walletops_proposal_actor(p_token);
    v_found boolean;
    v_current jsonb;
    v_open uuid;
    p config_proposals;
BEGIN
    IF NOT walletops_money_key(p_key) THEN
        RAISE EXCEPTION '% does not move money: change it with walletops config set', p_key
            USING ERRCODE = '22023';
    END IF;
    SELECT true, value INTO v_found, v_current FROM system_config WHERE key = p_key;
    IF v_found IS NULL THEN
        RAISE EXCEPTION 'no configuration key %', p_key USING ERRCODE = 'P0002';
    END IF;
    IF coalesce(v_current, 'null'::jsonb) = coalesce(p_value, 'null'::jsonb) THEN
        RAISE EXCEPTION '% already is %: nothing to propose', p_key, coalesce(p_value, 'null'::jsonb)
            USING ERRCODE = '22023';
    END IF;
    IF p_key IN ('consolidation.treasury_address', 'gas.wallet_address')
       AND jsonb_typeof(p_value) = 'string' THEN
        IF p_value = (SELECT value FROM system_config WHERE key = 'tron.usdt_contract') THEN
            RAISE EXCEPTION '% cannot be %: that is the USDT contract itself', p_key, p_value #>> '{}'
                USING ERRCODE = '22023';
        END IF;
        IF EXISTS (SELECT 1 FROM user_wallets WHERE address = p_value #>> '{}' AND role = 'deposit') THEN
            RAISE EXCEPTION '% cannot be %: that is one of our deposit wallets', p_key, p_value #>> '{}'
                USING ERRCODE = '22023';
        END IF;
    END IF;
    SELECT id INTO v_open FROM config_proposals
     WHERE key = p_key AND status IN ('pending', 'approved');
    IF v_open IS NOT NULL THEN
        RAISE EXCEPTION 'proposal % for % is still open: approve or cancel it first', v_open, p_key
            USING ERRCODE = '55000';
    END IF;
    INSERT INTO config_proposals (key, value, proposed_by)
    VALUES (p_key, coalesce(p_value, 'null'::jsonb), v_actor)
    RETURNING * INTO p;
    PERFORM walletops_proposal_audit('config.propose', p);
    RETURN p;
END
$$;

CREATE OR REPLACE FUNCTION walletops_proposal_approve(p_id uuid, p_token text DEFAULT NULL)
RETURNS config_proposals
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor uuid := walletops_proposal_actor(p_token);
    p config_proposals;
BEGIN
    SELECT * INTO p FROM config_proposals WHERE id = p_id FOR UPDATE;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'no proposal %', p_id USING ERRCODE = 'P0002';
    END IF;
    IF p.status <> 'pending' THEN
        RAISE EXCEPTION 'proposal % is %, not pending: nothing to approve', p_id, p.status
            USING ERRCODE = '55000';
    END IF;
    IF p.proposed_by = v_actor THEN
        RAISE EXCEPTION 'the admin who proposed a change cannot approve it: a different admin must'
            USING ERRCODE = '42501';
    END IF;
    UPDATE config_proposals
       SET status = 'approved', approved_by = v_actor, delay_seconds = walletops_change_delay()
     WHERE id = p_id
    RETURNING * INTO p;
    PERFORM walletops_proposal_audit('config.approve', p);
    RETURN p;
END
$$;

CREATE OR REPLACE FUNCTION walletops_proposal_cancel(p_id uuid, p_token text DEFAULT NULL)
RETURNS config_proposals
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor uuid := walletops_proposal_actor(p_token);
    p config_proposals;
BEGIN
    SELECT * INTO p FROM config_proposals WHERE id = p_id FOR UPDATE;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'no proposal %', p_id USING ERRCODE = 'P0002';
    END IF;
    IF p.status NOT IN ('pending', 'approved') THEN
        RAISE EXCEPTION 'proposal % is already %: nothing to cancel', p_id, p.status
            USING ERRCODE = '55000';
    END IF;
    UPDATE config_proposals SET status = 'cancelled', cancelled_by = v_actor
     WHERE id = p_id
    RETURNING * INTO p;
    PERFORM walletops_proposal_audit('config.cancel', p);
    RETURN p;
END
$$;

-- Applies every approved, uncancelled proposal whose delay has passed: the
-- proposal is marked applied, system_config written and the audit rows
-- added in the caller's one transaction, so a crash leaves the old value or
-- the new one, never a mix, and a proposal is applied at most once (its row
-- is locked; a concurrent caller skips it and then finds it applied). Any
-- walletops group may call it: it only carries out what two admins decided.
-- Its writes are walletops' own: for each proposal the transaction's audit
-- context names the approving admin (via 'proposal'); whatever context the
-- caller's transaction had before is put back afterwards, so nothing the
-- caller does next is credited to the proposal.
CREATE OR REPLACE FUNCTION walletops_apply_due_proposals() RETURNS SETOF config_proposals
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    p config_proposals;
    v_old jsonb;
    v_before audit_context;
    v_applied boolean := false;
BEGIN
    -- Called every second by the workers' leader: with nothing due it must
    -- not take a transaction id (pg_current_xact_id() would), so the
    -- caller's context is looked up only under an id it already has.
    SELECT * INTO v_before FROM audit_context WHERE xact = pg_current_xact_id_if_assigned();
    FOR p IN
        SELECT * FROM config_proposals
         WHERE status = 'approved'
           AND approved_at + make_interval(secs => greatest(delay_seconds, walletops_change_delay())) <= now()
         ORDER BY approved_at, id
         FOR UPDATE SKIP LOCKED
    LOOP
        BEGIN
            INSERT INTO audit_context (xact, user_id, actor)
            VALUES (pg_current_xact_id(), p.approved_by, jsonb_build_object(
                        'via', 'proposal', 'proposal_id', p.id, 'db_login', session_user::text,
                        'proposed_by', (SELECT email FROM auth.users WHERE id = p.proposed_by),
                        'approved_by', (SELECT email FROM auth.users WHERE id = p.approved_by)))
            ON CONFLICT (xact) DO UPDATE SET user_id = EXCLUDED.user_id, actor = EXCLUDED.actor;
            SELECT value INTO v_old FROM system_config WHERE key = p.key FOR UPDATE;
            UPDATE config_proposals
               SET status = 'applied', old_value = v_old, applied_xact = pg_current_xact_id()
             WHERE id = p.id
            RETURNING * INTO p;
            UPDATE system_config SET value = p.value, updated_at = now() WHERE key = p.key;
            IF NOT FOUND THEN
                INSERT INTO system_config (key, value) VALUES (p.key, p.value);
            END IF;
            PERFORM walletops_proposal_audit('config.apply', p);
            PERFORM pg_notify('walletops_control', jsonb_build_object('key', p.key, 'value', p.value)::text);
        EXCEPTION WHEN invalid_parameter_value THEN
            -- 0008's payout check refuses the value now (the address became
            -- a deposit wallet or the USDT contract after the approval).
            -- This proposal's writes are undone; it stays approved for an
            -- admin to cancel, and the other due proposals still apply.
            RAISE WARNING 'walletops: proposal % (% = %) is not applied: %; cancel it with walletops config cancel %',
                p.id, p.key, p.value, SQLERRM, p.id;
            CONTINUE;
        END;
        v_applied := true;
        RETURN NEXT p;
    END LOOP;
    IF NOT v_applied THEN
        RETURN;
    ELSIF v_before.xact IS NULL THEN
        DELETE FROM audit_context WHERE xact = pg_current_xact_id();
    ELSE
        UPDATE audit_context SET user_id = v_before.user_id, actor = v_before.actor
         WHERE xact = v_before.xact;
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Access. 0007's walletops_secure_tables() gives the new table its reads
-- (every group) and row security; the workers' default write grant is taken
-- back. Nobody but the owner writes config_proposals directly: the
-- restrictive policies hold even if a later call of walletops_secure_tables()
-- or another migration grants the table more widely.
-- ---------------------------------------------------------------------------

SELECT walletops_secure_tables();

ALTER TABLE config_proposals ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS config_proposals_no_insert ON config_proposals;
CREATE POLICY config_proposals_no_insert ON config_proposals AS RESTRICTIVE FOR INSERT
    WITH CHECK (false);
DROP POLICY IF EXISTS config_proposals_no_update ON config_proposals;
CREATE POLICY config_proposals_no_update ON config_proposals AS RESTRICTIVE FOR UPDATE
    USING (false);
DROP POLICY IF EXISTS config_proposals_no_delete ON config_proposals;
CREATE POLICY config_proposals_no_delete ON config_proposals AS RESTRICTIVE FOR DELETE
    USING (false);

REVOKE ALL ON config_proposals FROM PUBLIC;
REVOKE ALL ON FUNCTION walletops_proposal_actor(text),
    walletops_proposal_audit(text, config_proposals),
    walletops_proposal_create(text, jsonb, text),
    walletops_proposal_approve(uuid, text),
    walletops_proposal_cancel(uuid, text),
    walletops_apply_due_proposals() FROM PUBLIC;

DO $$
DECLARE
    g text;
BEGIN
    FOR g IN SELECT rolname FROM pg_roles
              WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker',
                                'walletops_viewer')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON config_proposals FROM %I', g);
        EXECUTE format('GRANT EXECUTE ON FUNCTION walletops_apply_due_proposals() TO %I', g);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_admin') THEN
        GRANT EXECUTE ON FUNCTION walletops_proposal_create(text, jsonb, text),
            walletops_proposal_approve(uuid, text),
            walletops_proposal_cancel(uuid, text) TO walletops_admin;
    ELSE
        RAISE NOTICE 'walletops: group roles are missing; config_proposals is guarded by its triggers and row security only';
    END IF;
END
$$;

-- The delay itself, last: its audit row (written by 0007's trigger) leaves a
-- deferred trigger event that the ALTER TABLEs of walletops_secure_tables()
-- above would refuse to run with.
INSERT INTO system_config (key, value, description) VALUES
    ('policy.change_delay_seconds', '86400', 'Seconds between the approval of a proposed change to a key that moves money and the moment it takes effect (24 h by default). Changed itself only by proposal; the signing host''s policy file sets its own minimum.')
ON CONFLICT (key) DO NOTHING;
