-- 0021: the energy pool (issue 15).
--
-- 1. Wallet role `energy`: a wallet whose TRX is staked for energy and lent
--    to deposit wallets just before their sweeps. Its key controls staked
--    TRX, so an energy key imported through walletops waits for a second
--    admin and the delay like a gas or treasury key (0010's triggers).
-- 2. Transfer kinds `energy-stake`, `energy-delegate`, `energy-reclaim`:
--    staking, lending and taking back are signed transactions recorded like
--    every transfer (signed once, recorded before broadcast, resolved by
--    txID). Their amount is the staked SUN concerned.
-- 3. The runtime keys of the energy pool and of gas by delegation.
-- 4. `energy.stake` is an audited admin action (walletops_audit()).

ALTER TABLE user_wallets DROP CONSTRAINT IF EXISTS user_wallets_role_check;
ALTER TABLE user_wallets ADD CONSTRAINT user_wallets_role_check
    CHECK (role IN ('deposit', 'gas', 'treasury', 'energy'));

ALTER TABLE transfers DROP CONSTRAINT IF EXISTS transfers_kind_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_kind_check
    CHECK (kind IN ('consolidation-usdt', 'consolidation-trx', 'gas-topup',
                    'energy-stake', 'energy-delegate', 'energy-reclaim'));

INSERT INTO signing_locks (kind)
VALUES ('energy-stake'), ('energy-delegate'), ('energy-reclaim')
ON CONFLICT (kind) DO NOTHING;

-- 0010's guard, with `energy` beside gas and treasury.
CREATE OR REPLACE FUNCTION walletops_wallet_active_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_via text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT NEW.active OR NEW.role NOT IN ('gas', 'treasury', 'energy') THEN
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

-- 0010's proposal, with `energy` beside gas and treasury.
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
    IF w.role NOT IN ('gas', 'treasury', 'energy') OR w.active OR w.encrypted_key IS NULL THEN
        RAISE EXCEPTION 'wallet % is a % wallet, %: only an inactive gas, treasury or energy wallet with a key waits for activation',
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
REVOKE ALL ON FUNCTION walletops_wallet_activation_propose(uuid) FROM PUBLIC;

-- The energy wallet that lends is a payout-like choice: it changes only by
-- proposal, like gas.wallet_address.
CREATE OR REPLACE FUNCTION walletops_money_key(p_key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_key IN ('consolidation.treasury_address', 'gas.wallet_address', 'tron.usdt_contract',
                     'gas.topup_sun', 'tron.fee_limit_sun', 'policy.change_delay_seconds',
                     'energy.wallet_address')
$$;

INSERT INTO system_config (key, value, description) VALUES
    ('gas.mode', '"burn"', 'How a sweep pays for its energy: "burn" (TRX topped up and burned), "delegate" (energy lent by the energy pool; the sweep waits while the pool is short) or "auto" (delegate while the pool covers it, else burn within gas.daily_burn_cap_sun, else wait).'),
    ('gas.daily_burn_cap_sun', '100000000', 'In auto mode: TRX in SUN that sweeps may burn for energy per UTC day when the energy pool is short; beyond it they wait.'),
    ('energy.wallet_address', 'null', 'Base58 TRON address of the energy wallet that lends energy; unset, the one active energy wallet.'),
    ('energy.margin_percent', '10', 'Energy delegated above the estimated energy of a USDT transfer, in percent.')
ON CONFLICT (key) DO NOTHING;

-- 0007's app-level audit rows, with `energy.stake`, which needs an admin
-- (staking locks the pool's TRX for the unstaking period).
CREATE OR REPLACE FUNCTION walletops_audit(
    p_action text, p_target_type text, p_target_id text, p_details jsonb, p_token text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_id uuid;
BEGIN
    IF p_action NOT IN ('job.dispatch', 'job.retry', 'job.cancel', 'jobs.clear_failed',
                        'jobs.reset_processing', 'energy.stake') THEN
        RAISE EXCEPTION '% is not an action walletops_audit records', quote_literal(p_action)
            USING ERRCODE = '22023';
    END IF;
    PERFORM walletops_act(p_token, CASE WHEN p_action = 'energy.stake' THEN 'admin' ELSE 'operator' END);
    INSERT INTO admin_actions (action_type, target_type, target_id, details)
    VALUES (p_action, p_target_type, p_target_id, p_details)
    RETURNING admin_actions.id INTO v_id;
    RETURN v_id;
END
$$;

-- `walletops energy stake` runs with the workers' login (it reads the
-- pool's sealed key and writes the stake's record, as a worker does) and
-- names its admin by token: the workers may call walletops_audit(), which
-- checks that token (or the login's own operator row) for the admin role.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walletops_worker') THEN
        GRANT EXECUTE ON FUNCTION walletops_audit(text, text, text, jsonb, text) TO walletops_worker;
    END IF;
END
$$;
