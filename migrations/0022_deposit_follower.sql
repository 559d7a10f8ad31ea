-- 0022: the chain follower (issue 16). Deposits are found by reading each
-- block once and matching its transfers against every stored wallet,
-- instead of asking the node's indexer about each wallet in turn.
--
-- deposit_follower: one row. Whoever holds an unexpired lease on it is the
-- follower (as maintenance_leader elects the maintenance leader: a lease
-- only workers may write, not an advisory lock any login could take). It
-- keeps the cursor: the last solidified block whose deposits are recorded,
-- with its hash, so that the next block must name it as parent. The cursor
-- moves in the same transaction as the block's wallet_transactions rows,
-- and only while the lease is held: a follower killed mid-block leaves the
-- cursor before that block, and its successor records it (the rows' unique
-- key makes a second recording a no-op).
CREATE TABLE IF NOT EXISTS deposit_follower (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder uuid,
    renewed_at timestamptz,
    block_number bigint,
    block_hash text,
    block_time timestamptz,
    -- The first block followed (the solidified head when the follower first
    -- ran): a sync that finds a transaction between it and the cursor found
    -- one the follower missed, and says so.
    start_number bigint,
    start_time timestamptz,
    -- The node's solidified head at the follower's last look: lag in blocks
    -- is solid_number - block_number.
    solid_number bigint,
    solid_time timestamptz,
    checked_at timestamptz,
    -- A range the node could not serve (pruned): reported until a rescan
    -- reads it (walletops deposits rescan), never skipped silently.
    gap_from bigint,
    gap_to bigint,
    gap_error text,
    -- Transactions a sync found in the followed range that the follower had
    -- not recorded: per-wallet sync reconciles, and a disagreement is
    -- reported (health, status) rather than only logged.
    missed_count bigint NOT NULL DEFAULT 0,
    missed_at timestamptz,
    missed_detail text
);

INSERT INTO deposit_follower (singleton) VALUES (true) ON CONFLICT DO NOTHING;

-- Unconfirmed deposits seen from the head block (deposits.show_unconfirmed),
-- replaced whenever their block is re-read with another hash (a fork) and
-- deleted once the block is solidified and its deposits recorded.
CREATE TABLE IF NOT EXISTS pending_deposits (
    wallet_id uuid NOT NULL REFERENCES user_wallets(id) ON DELETE CASCADE,
    tx_id text NOT NULL,
    event_index integer NOT NULL,
    asset text NOT NULL CHECK (asset IN ('trx', 'usdt')),
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    from_address text NOT NULL,
    to_address text NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    block_number bigint NOT NULL,
    block_hash text NOT NULL,
    block_time timestamptz,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wallet_id, tx_id, asset, direction, event_index)
);
CREATE INDEX IF NOT EXISTS pending_deposits_block ON pending_deposits (block_number);

-- A wallet whose stored balance is older than a deposit the follower
-- recorded: its next sync refreshes the balance and deletes the mark. A
-- table of its own (not a user_wallets column) so that the worker's column
-- grants on user_wallets stay as walletops_secure_tables() sets them.
CREATE TABLE IF NOT EXISTS stale_balances (
    wallet_id uuid PRIMARY KEY REFERENCES user_wallets(id) ON DELETE CASCADE,
    since timestamptz NOT NULL DEFAULT now()
);

-- Reads for every group, writes for workers only. Granted here rather than
-- by walletops_secure_tables(), whose defaults would undo what later
-- migrations narrowed or widened on other tables (see 0012, 0019).
ALTER TABLE deposit_follower ENABLE ROW LEVEL SECURITY;
ALTER TABLE pending_deposits ENABLE ROW LEVEL SECURITY;
ALTER TABLE stale_balances ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON deposit_follower, pending_deposits, stale_balances FROM PUBLIC;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) = 4 THEN
        GRANT SELECT ON deposit_follower, pending_deposits, stale_balances
           TO walletops_admin, walletops_operator, walletops_viewer;
        GRANT SELECT, UPDATE ON deposit_follower TO walletops_worker;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pending_deposits, stale_balances
           TO walletops_worker;
        CREATE POLICY walletops_all ON deposit_follower FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
        CREATE POLICY walletops_all ON pending_deposits FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
        CREATE POLICY walletops_all ON stale_balances FOR ALL
            TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
            USING (true) WITH CHECK (true);
    END IF;
END
$$;

INSERT INTO system_config (key, value, description) VALUES
    ('deposits.enabled', 'false', 'When true, one worker follows the chain block by block and records every transfer to or from a stored wallet.'),
    ('deposits.show_unconfirmed', 'false', 'When true, the follower also shows transfers of blocks not yet solidified as pending deposits.'),
    ('deposits.watch_trx', 'true', 'When true, the follower records TRX transfers.'),
    ('deposits.watch_usdt', 'true', 'When true, the follower records USDT (tron.usdt_contract) Transfer events.'),
    ('deposits.lag_warn_seconds', '300', 'Seconds the follower may lag behind the chain (block time of its last recorded block) before health is Degraded.'),
    ('deposits.lag_crit_seconds', '1800', 'Seconds the follower may lag behind the chain before health is Down.')
ON CONFLICT (key) DO NOTHING;
