-- 0020: what each mined transfer cost, from its receipt, beside 0019's
-- fee_sun (the receipt's `fee`, the total TRX burned).
--
-- The node omits zero fields, so a resolved record stores 0 for an absent
-- one; NULL means not mined yet, or resolved before this migration.
-- energy_stake is receipt.energy_usage + origin_energy_usage: energy from
-- the sender's own stake or delegated to it (the receipt does not tell
-- them apart) and the contract owner's share; the rest of
-- energy_total was bought by burning energy_fee_sun.
ALTER TABLE transfers
    ADD COLUMN IF NOT EXISTS energy_total bigint,
    ADD COLUMN IF NOT EXISTS energy_stake bigint,
    ADD COLUMN IF NOT EXISTS energy_fee_sun bigint,
    ADD COLUMN IF NOT EXISTS net_usage bigint,
    ADD COLUMN IF NOT EXISTS net_fee_sun bigint,
    -- The part of fee_sun that is neither energy nor bandwidth: creating
    -- the receiving account (1 TRX on mainnet for a system contract).
    ADD COLUMN IF NOT EXISTS activation_fee_sun bigint;

-- The costs report and the stats read costs by resolution time.
CREATE INDEX IF NOT EXISTS transfers_resolved_cost
    ON transfers (resolved_at) WHERE fee_sun IS NOT NULL;

DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles
         WHERE rolname IN ('walletops_admin', 'walletops_operator', 'walletops_viewer')) = 3 THEN
        -- 0007 grants the groups SELECT column by column; workers read
        -- whole tables.
        GRANT SELECT (energy_total, energy_stake, energy_fee_sun, net_usage, net_fee_sun,
                      activation_fee_sun)
           ON transfers TO walletops_admin, walletops_operator, walletops_viewer;
    END IF;
END
$$;
