-- 0023: the energy pool and the energy price as the maintainer last read
-- them from the chain, so that health, the stats and the console (which
-- refresh every few seconds, in every console) read one row instead of
-- asking the node. One row at most (id is always true).

CREATE TABLE IF NOT EXISTS energy_pool_state (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    observed_at timestamptz NOT NULL,
    -- SUN per unit of energy (the chain parameter getEnergyFee).
    energy_price_sun bigint NOT NULL CHECK (energy_price_sun >= 0),
    -- Energy one sweep borrows: the mean of the recent sweeps, or the node's
    -- estimate before the first, plus energy.margin_percent; NULL when
    -- neither is known.
    sweep_energy bigint CHECK (sweep_energy > 0),
    -- The pool the jobs use (energy.wallet_address, or the one active energy
    -- wallet); the figures below are NULL without one.
    pool_address text,
    staked_energy_sun bigint,
    energy_limit bigint,
    energy_used bigint,
    delegated_out_sun bigint,
    -- [{"to": "T...", "energy_sun": n, "since": timestamptz}]: each
    -- delegation from the pool, since when walletops has seen it.
    delegations jsonb NOT NULL DEFAULT '[]'
);

-- Workers (the maintainer) write it, the other groups read it for health.
ALTER TABLE energy_pool_state ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON energy_pool_state FROM PUBLIC;
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_worker', 'walletops_viewer')) = 4 THEN
        GRANT SELECT ON energy_pool_state TO walletops_admin, walletops_operator, walletops_viewer;
        GRANT SELECT, INSERT, UPDATE ON energy_pool_state TO walletops_worker;
        IF NOT EXISTS (SELECT 1 FROM pg_policies
                        WHERE tablename = 'energy_pool_state' AND policyname = 'walletops_all') THEN
            CREATE POLICY walletops_all ON energy_pool_state FOR ALL
                TO walletops_admin, walletops_operator, walletops_worker, walletops_viewer
                USING (true) WITH CHECK (true);
        END IF;
    END IF;
END
$$;

INSERT INTO system_config (key, value, description) VALUES
    ('energy.warn_sweeps', '20', 'Health is Degraded when the energy pool''s available energy covers fewer sweeps than this; 0 turns the check off.')
ON CONFLICT (key) DO NOTHING;
