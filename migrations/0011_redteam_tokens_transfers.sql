-- Two doors the red team found open after 0007-0009.
--
-- 1. A token outlived its maker's removal. walletops_act() checked only the
--    token's own expiry and revocation, so an admin removed with
--    `operators remove` (or demoted) kept every right through the tokens it
--    had made, including minting new ones. A token now acts with the lesser
--    of its own role and its maker's current one, and not at all once its
--    maker is no longer an operator. (A token with no maker predates 0007's
--    functions or was written by the owner; it keeps its role.)
-- 2. A worker's login rewrote transfer records: their amount, kind, time
--    and status, which the in-process signer counts its daily caps from.
--    A record's facts are now fixed once written (created_at from the
--    server's clock), and its status only moves forward; the caps count
--    every transfer signed today whatever its status (jobs::transfers), so
--    marking one expired lowers nothing.

-- The role a token's maker holds now: NULL when the maker is no live
-- operator; the token's own role when it has no maker.
CREATE OR REPLACE FUNCTION walletops_token_maker_role(p_token api_tokens) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT CASE
        WHEN p_token.created_by IS NULL THEN p_token.role
        ELSE (SELECT CASE WHEN walletops_role_rank(o.role) < walletops_role_rank(p_token.role)
                          THEN o.role ELSE p_token.role END
                FROM operators o
               WHERE o.user_id = p_token.created_by AND o.revoked_at IS NULL)
    END
$$;
REVOKE ALL ON FUNCTION walletops_token_maker_role(api_tokens) FROM PUBLIC;

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
        v_role := walletops_token_maker_role(t);
        IF v_role IS NULL THEN
            RAISE EXCEPTION 'token % was made by someone who is no longer an operator: it acts for nobody', t.name
                USING ERRCODE = '28000',
                      HINT = 'an admin makes a new one: walletops tokens create';
        END IF;
        v_user := t.created_by;
        v_actor := jsonb_build_object('via', 'token', 'token_id', t.id, 'token_name', t.name,
                                      'role', v_role, 'db_login', session_user::text);
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

-- The HTTP server's authentication, with the same rule: a token whose maker
-- is gone is no identity, and one whose maker was demoted reads as the
-- maker's role.
CREATE OR REPLACE FUNCTION walletops_token_identity(p_token text)
RETURNS TABLE (id uuid, name text, role text, created_by uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN QUERY
    WITH live AS (
        SELECT t.id, walletops_token_maker_role(t) AS role
          FROM api_tokens t
         WHERE t.token_hash = sha256(convert_to(p_token, 'UTF8'))
           AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
    )
    UPDATE api_tokens t
       SET last_used_at = CASE WHEN t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'
                               THEN now() ELSE t.last_used_at END
      FROM live
     WHERE t.id = live.id AND live.role IS NOT NULL
    RETURNING t.id, t.name, live.role, t.created_by;
END
$$;

-- A transfer record's facts never change once written, for everyone (the
-- owner can still disable the trigger; the audit trail does not cover
-- transfers, `walletops signer`'s log does).
CREATE OR REPLACE FUNCTION walletops_transfers_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.wallet_id, NEW.kind, NEW.asset, NEW.from_address, NEW.to_address,
        NEW.amount, NEW.tx_id, NEW.signed_tx, NEW.expires_at, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.wallet_id, OLD.kind, OLD.asset, OLD.from_address, OLD.to_address,
        OLD.amount, OLD.tx_id, OLD.signed_tx, OLD.expires_at, OLD.created_at) THEN
        RAISE EXCEPTION 'a transfer record''s facts never change: only its status moves forward'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT (OLD.status = 'signed' AND NEW.status IN ('broadcast', 'confirmed', 'failed', 'expired'))
       AND NOT (OLD.status = 'broadcast' AND NEW.status IN ('confirmed', 'failed', 'expired')) THEN
        RAISE EXCEPTION 'a transfer cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS transfers_guard ON transfers;
CREATE TRIGGER transfers_guard BEFORE INSERT OR UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION walletops_transfers_guard();
