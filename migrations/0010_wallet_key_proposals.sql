-- Gas and treasury keys take two admins and a delay.
--
-- A gas or treasury key imported through walletops is sealed and stored at
-- once (the proposer handles the key once), but the wallet is inactive: a
-- proposal 'wallet:ADDRESS' in config_proposals (0009) activates it once a
-- different admin approved it and policy.change_delay_seconds have passed,
-- applied by walletops_apply_due_proposals() like every other proposal. So
-- `config proposals`, `config approve ID`, `config cancel ID`, `status` and
-- the dashboard cover it unchanged. A cancelled activation leaves the row
-- inactive (its sealed key and audit history stay).
--
-- What holds it in the database:
-- - user_wallets.active: no group is granted UPDATE on it (0007's grants are
--   per column), and a trigger binds everyone but the owner acting outside
--   an operator's walletops action: a wallet becomes active only by the
--   application of its approved, due proposal in the same transaction.
-- - The wallet audit trigger records `active` on insert and update; the
--   activation's audit row carries the proposal's context (via 'proposal'),
--   so it is not flagged external.
-- Rows from before this migration stay active (the column's default).

ALTER TABLE user_wallets ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;

-- Wallet activations are proposals too: their key names the wallet
-- ('wallet:' || address, so one open activation per wallet), their value
-- says which row. They are made by the owner's import, which may have no
-- operator behind it (an unlinked owner login): then any live admin
-- approves, as the second person.
ALTER TABLE config_proposals DROP CONSTRAINT IF EXISTS config_proposals_key_check;
ALTER TABLE config_proposals DROP CONSTRAINT IF EXISTS config_proposals_key_kind;
ALTER TABLE config_proposals ADD CONSTRAINT config_proposals_key_kind
    CHECK (walletops_money_key(key) OR key LIKE 'wallet:%');
ALTER TABLE config_proposals ALTER COLUMN proposed_by DROP NOT NULL;
ALTER TABLE config_proposals DROP CONSTRAINT IF EXISTS config_proposals_proposer;
ALTER TABLE config_proposals ADD CONSTRAINT config_proposals_proposer
    CHECK (proposed_by IS NOT NULL OR key LIKE 'wallet:%');

-- ---------------------------------------------------------------------------
-- Activation: only the proposal being applied in this transaction, or the
-- owner outside an operator's action (a deployment's first wallets).
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_wallet_active_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_via text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT NEW.active OR NEW.role NOT IN ('gas', 'treasury') THEN
            RETURN NEW;
        END IF;
    ELSIF NOT (NEW.active AND NOT OLD.active) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND EXISTS (
           SELECT 1 FROM config_proposals
            WHERE key = 'wallet:' || NEW.address AND value ->> 'wallet_id' = NEW.id::text
              AND status = 'applied' AND applied_xact = pg_current_xact_id()) THEN
        RETURN NEW;
    END IF;
    v_via := (SELECT actor ->> 'via' FROM audit_context WHERE xact = pg_current_xact_id());
    IF pg_has_role(session_user,
                   (SELECT relowner FROM pg_class WHERE oid = 'user_wallets'::regclass), 'USAGE')
       AND v_via IS DISTINCT FROM 'login' AND v_via IS DISTINCT FROM 'token' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'wallet % (%) becomes active only by its activation proposal, approved by a second admin, after policy.change_delay_seconds',
        NEW.address, NEW.role
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'walletops config proposals; another admin: walletops config approve ID';
END
$$;

DROP TRIGGER IF EXISTS user_wallets_active_guard ON user_wallets;
CREATE TRIGGER user_wallets_active_guard
    BEFORE INSERT OR UPDATE OF active ON user_wallets
    FOR EACH ROW EXECUTE FUNCTION walletops_wallet_active_guard();

-- 0007's wallet audit, with `active`.
CREATE OR REPLACE FUNCTION walletops_audit_wallets() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM walletops_audit_row('wallet.import', 'wallet', NEW.id::text,
            jsonb_build_object('address', NEW.address, 'role', NEW.role, 'user_id', NEW.user_id,
                               'active', NEW.active,
                               'key', CASE WHEN NEW.encrypted_key IS NULL THEN 'none' ELSE 'set' END));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM walletops_audit_row('wallet.delete', 'wallet', OLD.id::text,
            jsonb_build_object('address', OLD.address, 'role', OLD.role, 'user_id', OLD.user_id,
                               'active', OLD.active));
    ELSE
        PERFORM walletops_audit_row(
            CASE WHEN NEW.active AND NOT OLD.active THEN 'wallet.activate' ELSE 'wallet.update' END,
            'wallet', NEW.id::text,
            jsonb_build_object(
                'address', NEW.address,
                'old', jsonb_build_object('address', OLD.address, 'role', OLD.role,
                                          'user_id', OLD.user_id, 'active', OLD.active),
                'new', jsonb_build_object('address', NEW.address, 'role', NEW.role,
                                          'user_id', NEW.user_id, 'active', NEW.active),
                'key', CASE WHEN OLD.encrypted_key IS DISTINCT FROM NEW.encrypted_key
                              OR OLD.key_nonce IS DISTINCT FROM NEW.key_nonce
                            THEN 'changed' ELSE 'unchanged' END));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS user_wallets_audit_update ON user_wallets;
CREATE TRIGGER user_wallets_audit_update
    AFTER UPDATE OF address, role, user_id, encrypted_key, key_nonce, active ON user_wallets
    FOR EACH ROW
    WHEN (OLD.address IS DISTINCT FROM NEW.address OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.encrypted_key IS DISTINCT FROM NEW.encrypted_key
          OR OLD.key_nonce IS DISTINCT FROM NEW.key_nonce
          OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION walletops_audit_wallets();

-- ---------------------------------------------------------------------------
-- Proposing an activation: the owner's key import, in its transaction
-- (after walletops_act_owner()). The proposer is the live admin operator
-- linked to the owner's login, if any.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_wallet_activation_propose(p_wallet uuid)
RETURNS config_proposals
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    w user_wallets;
    v_open uuid;
    p config_proposals;
BEGIN
    IF NOT pg_has_role(session_user,
                       (SELECT relowner FROM pg_class WHERE oid = 'user_wallets'::regclass), 'USAGE') THEN
        RAISE EXCEPTION 'only the database owner imports keys and proposes their activation'
            USING ERRCODE = '42501';
    END IF;
    SELECT * INTO w FROM user_wallets WHERE id = p_wallet FOR UPDATE;
    IF w.id IS NULL THEN
        RAISE EXCEPTION 'no wallet %', p_wallet USING ERRCODE = 'P0002';
    END IF;
    IF w.role NOT IN ('gas', 'treasury') OR w.active OR w.encrypted_key IS NULL THEN
        RAISE EXCEPTION 'wallet % is a % wallet, %: only an inactive gas or treasury wallet with a key waits for activation',
            w.address, w.role, CASE WHEN w.active THEN 'active' ELSE 'inactive' END
            USING ERRCODE = '22023';
    END IF;
    SELECT id INTO v_open FROM config_proposals
     WHERE key = 'wallet:' || w.address AND status IN ('pending', 'approved');
    IF v_open IS NOT NULL THEN
        RAISE EXCEPTION 'proposal % to activate wallet % is still open', v_open, w.address
            USING ERRCODE = '55000';
    END IF;
    INSERT INTO config_proposals (key, value, proposed_by)
    VALUES ('wallet:' || w.address,
            jsonb_build_object('activate', w.role, 'wallet_id', w.id, 'address', w.address,
                               'user', (SELECT email FROM auth.users WHERE id = w.user_id)),
            (SELECT o.user_id FROM operators o
              WHERE o.db_login = session_user::text AND o.role = 'admin' AND o.revoked_at IS NULL))
    RETURNING * INTO p;
    PERFORM walletops_proposal_audit('config.propose', p);
    RETURN p;
END
$$;

-- Applying an activation: walletops_apply_due_proposals() (0009) marks the
-- proposal applied and then writes its value under its key into
-- system_config. For a 'wallet:' key the first step activates the wallet
-- (this trigger, in the same transaction and audit context), and the second
-- is skipped (system_config never holds a 'wallet:' key). 0009's function is
-- left as it is, so whatever else it does when applying holds for wallets too.
CREATE OR REPLACE FUNCTION walletops_wallet_activation_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- The row as it was proposed: a wallet whose address changed since is
    -- not the one two admins approved, and stays inactive.
    UPDATE user_wallets SET active = true, updated_at = now()
     WHERE id = (NEW.value ->> 'wallet_id')::uuid AND address = NEW.value ->> 'address'
       AND NOT active;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS config_proposals_wallet_activation ON config_proposals;
CREATE TRIGGER config_proposals_wallet_activation
    AFTER UPDATE ON config_proposals
    FOR EACH ROW
    WHEN (NEW.key LIKE 'wallet:%' AND NEW.status = 'applied' AND OLD.status = 'approved')
    EXECUTE FUNCTION walletops_wallet_activation_apply();

CREATE OR REPLACE FUNCTION walletops_system_config_no_wallet_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NEW.key NOT LIKE 'wallet:%' THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND EXISTS (
           SELECT 1 FROM config_proposals
            WHERE key = NEW.key AND status = 'applied' AND applied_xact = pg_current_xact_id()) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is not a configuration key: wallet activations live in config_proposals', NEW.key
        USING ERRCODE = '22023';
END
$$;

-- Named to run before system_config's other row triggers (alphabetical).
DROP TRIGGER IF EXISTS system_config_0_no_wallet_keys ON system_config;
CREATE TRIGGER system_config_0_no_wallet_keys
    BEFORE INSERT OR UPDATE ON system_config
    FOR EACH ROW EXECUTE FUNCTION walletops_system_config_no_wallet_keys();

-- The groups read the new column (0007 grants SELECT column by column to
-- admins, operators and viewers; workers read whole tables). Nobody but the
-- owner proposes an activation directly (the import does).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_admin') THEN
        GRANT SELECT (active) ON user_wallets TO walletops_admin, walletops_operator, walletops_viewer;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION walletops_wallet_activation_propose(uuid) FROM PUBLIC;
