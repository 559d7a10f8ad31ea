-- walletops foundation schema.
--
-- Runs on an empty database and on one that already holds the original
-- admin page's tables (system_config, admin_actions, job_logs, user_wallets)
-- with rows in them: every statement is "create if missing" and every column
-- added to an existing table is nullable or has a default.

-- auth.users belongs to Supabase's auth service where it exists and is never
-- altered here; on plain PostgreSQL a minimal one stands in for it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
        CREATE SCHEMA auth;
    END IF;
    IF to_regclass('auth.users') IS NULL THEN
        CREATE TABLE auth.users (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            email text UNIQUE,
            raw_user_meta_data jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX auth_users_email_pattern ON auth.users (lower(email) text_pattern_ops);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION walletops_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------
-- The seed's tables, with the seed's columns and CHECK values exactly.
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS system_config (
    id UUID PRIMARY KEY,
    key TEXT UNIQUE,
    value JSONB,
    description TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);
ALTER TABLE system_config ALTER COLUMN id SET DEFAULT gen_random_uuid();

CREATE TABLE IF NOT EXISTS admin_actions (
    id UUID PRIMARY KEY,
    admin_user_id UUID REFERENCES auth.users(id),
    action_type TEXT,
    target_id TEXT,
    target_type TEXT,
    details JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW()
);
ALTER TABLE admin_actions ALTER COLUMN id SET DEFAULT gen_random_uuid();

CREATE TABLE IF NOT EXISTS job_logs (
    id UUID PRIMARY KEY,
    job_id TEXT UNIQUE,
    job_type TEXT CHECK (job_type IN ('sync', 'consolidation', 'gas-topup')),
    status TEXT CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    wallet_address TEXT,
    user_id UUID REFERENCES auth.users(id),
    data JSONB,
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    error_message TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);
ALTER TABLE job_logs ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE job_logs ALTER COLUMN status SET DEFAULT 'pending';

-- The original app's wallets; the worker-system columns are added below.
CREATE TABLE IF NOT EXISTS user_wallets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid REFERENCES auth.users(id),
    address text NOT NULL UNIQUE,
    created_at timestamptz DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Worker-system columns on the existing tables.
-- ---------------------------------------------------------------------------

ALTER TABLE job_logs
    -- When the job may run next (backoff and "not yet" push it forward).
    ADD COLUMN IF NOT EXISTS run_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 0,
    -- Lease: which worker holds the job and until when.
    ADD COLUMN IF NOT EXISTS locked_by uuid,
    ADD COLUMN IF NOT EXISTS locked_until timestamptz,
    -- Claims so far; every state change names the attempt it belongs to, so a
    -- late answer from a worker that lost its lease changes nothing.
    ADD COLUMN IF NOT EXISTS attempt integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS started_at timestamptz,
    ADD COLUMN IF NOT EXISTS finished_at timestamptz,
    ADD COLUMN IF NOT EXISTS wallet_id uuid;

ALTER TABLE user_wallets
    ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'deposit',
    ADD COLUMN IF NOT EXISTS label text,
    -- Balances as integers: TRX in SUN, USDT in its smallest unit (6 decimals).
    ADD COLUMN IF NOT EXISTS trx_balance_sun bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS usdt_balance bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_synced_at timestamptz,
    ADD COLUMN IF NOT EXISTS sync_status text NOT NULL DEFAULT 'never',
    ADD COLUMN IF NOT EXISTS sync_error text,
    -- Processing state belongs to the job holding the wallet (its lease).
    ADD COLUMN IF NOT EXISTS is_processing boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS processing_job_id uuid,
    ADD COLUMN IF NOT EXISTS processing_since timestamptz,
    -- Private key sealed with the master key (AEAD, wallet id as associated data).
    ADD COLUMN IF NOT EXISTS encrypted_key bytea,
    ADD COLUMN IF NOT EXISTS key_nonce bytea,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'user_wallets_role_check') THEN
        ALTER TABLE user_wallets ADD CONSTRAINT user_wallets_role_check
            CHECK (role IN ('deposit', 'gas', 'treasury'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'user_wallets_balances_check') THEN
        ALTER TABLE user_wallets ADD CONSTRAINT user_wallets_balances_check
            CHECK (trx_balance_sun >= 0 AND usdt_balance >= 0);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'user_wallets_sync_status_check') THEN
        ALTER TABLE user_wallets ADD CONSTRAINT user_wallets_sync_status_check
            CHECK (sync_status IN ('never', 'ok', 'error'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'user_wallets_key_check') THEN
        ALTER TABLE user_wallets ADD CONSTRAINT user_wallets_key_check
            CHECK ((encrypted_key IS NULL) = (key_nonce IS NULL));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'job_logs_attempts_check') THEN
        ALTER TABLE job_logs ADD CONSTRAINT job_logs_attempts_check
            CHECK (attempt >= 0 AND retry_count >= 0 AND max_retries >= 0);
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- New tables.
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS workers (
    id uuid PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    state text NOT NULL DEFAULT 'idle'
        CHECK (state IN ('active', 'idle', 'paused', 'error', 'stopped')),
    concurrency integer NOT NULL DEFAULT 1 CHECK (concurrency > 0),
    current_job_id uuid REFERENCES job_logs(id) ON DELETE SET NULL,
    jobs_in_flight integer NOT NULL DEFAULT 0,
    jobs_done bigint NOT NULL DEFAULT 0,
    jobs_failed bigint NOT NULL DEFAULT 0,
    last_error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz
);

CREATE TABLE IF NOT EXISTS wallet_transactions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    wallet_id uuid NOT NULL REFERENCES user_wallets(id) ON DELETE CASCADE,
    tx_id text NOT NULL,
    -- Index of the event within the transaction (several TRC-20 logs may share one).
    event_index integer NOT NULL DEFAULT 0,
    asset text NOT NULL CHECK (asset IN ('trx', 'usdt')),
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    from_address text NOT NULL,
    to_address text NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    block_number bigint,
    block_time timestamptz,
    status text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (wallet_id, tx_id, asset, direction, event_index)
);

-- A transfer is signed once and recorded here before it is broadcast. These
-- rows outlive any job: deleting a job only forgets which job made them.
CREATE TABLE IF NOT EXISTS transfers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    wallet_id uuid NOT NULL REFERENCES user_wallets(id) ON DELETE RESTRICT,
    job_id uuid REFERENCES job_logs(id) ON DELETE SET NULL,
    kind text NOT NULL CHECK (kind IN ('consolidation-usdt', 'consolidation-trx', 'gas-topup')),
    asset text NOT NULL CHECK (asset IN ('trx', 'usdt')),
    from_address text NOT NULL,
    to_address text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    tx_id text NOT NULL UNIQUE,
    signed_tx bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'signed'
        CHECK (status IN ('signed', 'broadcast', 'confirmed', 'failed', 'expired')),
    broadcast_count integer NOT NULL DEFAULT 0,
    last_error text,
    block_number bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);

-- Operator roles: who may act, mapped to a user. Removing an operator revokes
-- it; the user stays, since the audit trail names it.
CREATE TABLE IF NOT EXISTS operators (
    user_id uuid PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- API tokens, stored as SHA-256 hashes only.
CREATE TABLE IF NOT EXISTS api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_by uuid REFERENCES auth.users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);

-- ---------------------------------------------------------------------------
-- Foreign keys (the seed's last step). Added NOT VALID first so that an
-- existing deployment with stray rows still migrates; validated when it can be.
-- ---------------------------------------------------------------------------

DO $$
BEGIN
    -- Jobs name their wallet by address (the seed's column) and, for new
    -- jobs, by id; a wallet's jobs go with it.
    UPDATE job_logs j SET wallet_id = w.id
      FROM user_wallets w
     WHERE j.wallet_id IS NULL AND j.wallet_address = w.address;

    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'job_logs_wallet_id_fkey') THEN
        ALTER TABLE job_logs ADD CONSTRAINT job_logs_wallet_id_fkey
            FOREIGN KEY (wallet_id) REFERENCES user_wallets(id) ON DELETE CASCADE NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'job_logs_locked_by_fkey') THEN
        ALTER TABLE job_logs ADD CONSTRAINT job_logs_locked_by_fkey
            FOREIGN KEY (locked_by) REFERENCES workers(id) ON DELETE SET NULL NOT VALID;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'user_wallets_processing_job_id_fkey') THEN
        ALTER TABLE user_wallets ADD CONSTRAINT user_wallets_processing_job_id_fkey
            FOREIGN KEY (processing_job_id) REFERENCES job_logs(id) ON DELETE SET NULL NOT VALID;
    END IF;

    BEGIN
        ALTER TABLE job_logs VALIDATE CONSTRAINT job_logs_wallet_id_fkey;
        ALTER TABLE job_logs VALIDATE CONSTRAINT job_logs_locked_by_fkey;
        ALTER TABLE user_wallets VALIDATE CONSTRAINT user_wallets_processing_job_id_fkey;
    EXCEPTION WHEN foreign_key_violation THEN
        RAISE WARNING 'walletops: existing rows break a foreign key; it holds for new rows only until they are repaired';
    END;
END
$$;

-- ---------------------------------------------------------------------------
-- At most one pending or processing job per (wallet, job type), enforced by
-- the database. An existing deployment may hold duplicates: the newer ones
-- are cancelled (kept, with a note) so the index can be built.
-- ---------------------------------------------------------------------------

UPDATE job_logs
   SET status = 'cancelled',
       error_message = 'cancelled by walletops migration: duplicate of an older active job for this wallet and type'
 WHERE id IN (
       SELECT id FROM (
           SELECT id, row_number() OVER (
                      PARTITION BY wallet_address, job_type
                      ORDER BY created_at NULLS FIRST, id) AS n
             FROM job_logs
            WHERE status IN ('pending', 'processing') AND wallet_address IS NOT NULL
       ) ranked
        WHERE n > 1);

CREATE UNIQUE INDEX IF NOT EXISTS job_logs_one_active_per_wallet
    ON job_logs (wallet_address, job_type)
    WHERE status IN ('pending', 'processing');

-- ---------------------------------------------------------------------------
-- Indexes for the queries the design implies.
-- ---------------------------------------------------------------------------

-- Claiming: due pending jobs by priority then due time.
CREATE INDEX IF NOT EXISTS job_logs_claim
    ON job_logs (priority DESC, run_at, id) WHERE status = 'pending';
-- Lease rescue: processing jobs by lease expiry.
CREATE INDEX IF NOT EXISTS job_logs_lease
    ON job_logs (locked_until) WHERE status = 'processing';
-- Stats by status and type, throughput windows, retention.
CREATE INDEX IF NOT EXISTS job_logs_status_type ON job_logs (status, job_type);
CREATE INDEX IF NOT EXISTS job_logs_finished ON job_logs (finished_at, status)
    WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS job_logs_created ON job_logs (created_at);
-- Search by wallet and user; foreign keys.
CREATE INDEX IF NOT EXISTS job_logs_wallet_address ON job_logs (wallet_address);
CREATE INDEX IF NOT EXISTS job_logs_wallet_id ON job_logs (wallet_id);
CREATE INDEX IF NOT EXISTS job_logs_user_id ON job_logs (user_id);
CREATE INDEX IF NOT EXISTS job_logs_locked_by ON job_logs (locked_by) WHERE locked_by IS NOT NULL;

CREATE INDEX IF NOT EXISTS user_wallets_user_id ON user_wallets (user_id);
CREATE INDEX IF NOT EXISTS user_wallets_processing ON user_wallets (processing_since)
    WHERE is_processing;
CREATE INDEX IF NOT EXISTS user_wallets_processing_job ON user_wallets (processing_job_id)
    WHERE processing_job_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_wallets_address_pattern ON user_wallets (address text_pattern_ops);

CREATE INDEX IF NOT EXISTS admin_actions_created ON admin_actions (created_at DESC);
CREATE INDEX IF NOT EXISTS admin_actions_admin_user ON admin_actions (admin_user_id);

CREATE INDEX IF NOT EXISTS workers_heartbeat ON workers (last_heartbeat_at DESC);
CREATE INDEX IF NOT EXISTS workers_current_job ON workers (current_job_id)
    WHERE current_job_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS wallet_transactions_wallet_time
    ON wallet_transactions (wallet_id, block_time DESC);

CREATE INDEX IF NOT EXISTS transfers_wallet ON transfers (wallet_id, created_at DESC);
CREATE INDEX IF NOT EXISTS transfers_job ON transfers (job_id) WHERE job_id IS NOT NULL;
-- The guard: at most one unresolved (signed or broadcast) transfer per wallet and kind.
CREATE UNIQUE INDEX IF NOT EXISTS transfers_one_unresolved
    ON transfers (wallet_id, kind) WHERE status IN ('signed', 'broadcast');

CREATE INDEX IF NOT EXISTS api_tokens_created_by ON api_tokens (created_by);

-- ---------------------------------------------------------------------------
-- updated_at triggers. The queue sets updated_at itself in its hot statements;
-- the WHEN clause skips the trigger then, so bulk updates stay cheap.
-- ---------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['system_config', 'job_logs', 'user_wallets', 'transfers', 'operators']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t || '_touch_updated_at') THEN
            EXECUTE format(
                'CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW
                 WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
                 EXECUTE FUNCTION walletops_touch_updated_at()',
                t || '_touch_updated_at', t);
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- The audit trail is append-only, for everyone including the table's owner.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_admin_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_actions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'admin_actions_append_only') THEN
        CREATE TRIGGER admin_actions_append_only
            BEFORE UPDATE OR DELETE ON admin_actions
            FOR EACH ROW EXECUTE FUNCTION walletops_admin_actions_append_only();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'admin_actions_no_truncate') THEN
        CREATE TRIGGER admin_actions_no_truncate
            BEFORE TRUNCATE ON admin_actions
            FOR EACH STATEMENT EXECUTE FUNCTION walletops_admin_actions_append_only();
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Runtime switches. Existing values are kept; only missing keys are added.
-- ---------------------------------------------------------------------------

INSERT INTO system_config (key, value, description) VALUES
    ('workers.paused', 'false', 'When true, workers claim no new jobs; jobs in flight finish.'),
    ('ui.refresh_seconds', '15', 'Console refresh interval in seconds (database notifications refresh sooner).'),
    ('consolidation.treasury_address', 'null', 'Base58 TRON address that consolidations sweep to. Required before any consolidation runs.'),
    ('consolidation.min_usdt', '10000000', 'Smallest USDT balance worth sweeping, in the token''s smallest unit (6 decimals).'),
    ('consolidation.trx_reserve_sun', '1000000', 'TRX left on a deposit wallet after a sweep, in SUN.'),
    ('gas.wallet_address', 'null', 'Base58 TRON address of the gas wallet that pays for top-ups.'),
    ('gas.topup_sun', '0', 'Fixed top-up amount in SUN; 0 computes it from the energy a USDT transfer needs at run time.'),
    ('gas.min_balance_sun', '100000000', 'Below this balance in SUN the gas wallet refuses top-ups and health is Degraded.'),
    ('sync.interval_seconds', '0', 'Seconds between periodic syncs of every wallet; 0 turns periodic sync off.'),
    ('sync.auto_consolidate', 'false', 'When true, a sync that finds USDT above consolidation.min_usdt queues a consolidation.'),
    ('queue.max_retries', '3', 'Attempts a job may fail before it goes to the dead-letter set (failed).'),
    ('queue.backoff_base_seconds', '5', 'First retry delay in seconds; doubles with each retry, plus jitter.'),
    ('queue.backoff_cap_seconds', '600', 'Longest retry delay in seconds.'),
    ('queue.lease_seconds', '30', 'How long a claim lasts without a heartbeat before the job is taken back.'),
    ('queue.retention_days', '7', 'Completed and cancelled jobs older than this many days are deleted.'),
    ('queue.failed_retention_days', '90', 'Failed jobs (the dead-letter set) older than this many days are deleted.'),
    ('tron.usdt_contract', '"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"', 'Base58 address of the USDT (TRC-20) contract.'),
    ('tron.tx_expiry_seconds', '60', 'Seconds a signed transaction stays valid after its reference block.'),
    ('tron.fee_limit_sun', '100000000', 'Most TRX in SUN a TRC-20 transfer may burn for energy.'),
    ('health.heartbeat_stale_seconds', '30', 'A worker whose last heartbeat is older than this counts as dead.'),
    ('health.failure_rate_degraded_pct', '10', 'Failure rate over the last 15 minutes (percent) at which health is Degraded.'),
    ('health.failure_rate_down_pct', '50', 'Failure rate over the last 15 minutes (percent) at which health is Down.'),
    ('health.oldest_pending_degraded_seconds', '300', 'Age in seconds of the oldest due pending job at which health is Degraded.'),
    ('health.oldest_pending_down_seconds', '1800', 'Age in seconds of the oldest due pending job at which health is Down.'),
    ('health.stuck_processing_degraded', '1', 'Number of jobs past their lease at which health is Degraded.')
ON CONFLICT (key) DO NOTHING;

-- ---------------------------------------------------------------------------
-- Group roles. Roles are cluster-wide: several databases in one cluster may
-- run this at the same moment, so creation tolerates losing the race. Where
-- the migrating user may not create roles (managed services), they are
-- skipped with a notice and the application's own checks remain.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION walletops_ensure_role(r text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        RETURN true;
    END IF;
    BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database's migration created it first
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'walletops: may not create role %; database roles are not enforced', r;
            RETURN false;
    END;
    RETURN true;
END
$$;

SELECT walletops_ensure_role(r)
  FROM unnest(ARRAY['walletops_admin', 'walletops_worker', 'walletops_viewer']) AS r;
