//! The energy pool and the energy price as the workers' maintenance last
//! read them from the chain (`energy_pool_state`, migration 0023). Health,
//! the stats and every console read this one row on each refresh instead
//! of asking the node; the maintenance leader reads the chain again every
//! [`READ_EVERY`] (a handful of requests: `jobs::pool_watch`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::tron::Sun;

/// How often the workers read the pool and the energy price.
pub const READ_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Energy lent from the pool to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub to: String,
    /// Staked SUN whose energy is lent.
    pub energy_sun: Sun,
    /// When the pool last lent to this account by its confirmed records,
    /// else when walletops first saw the delegation (the chain does not
    /// say when a delegation began).
    pub since: DateTime<Utc>,
}

/// The pool's figures, when the jobs have one (`energy.wallet_address`, or
/// the one active energy wallet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolFigures {
    pub address: String,
    /// TRX staked for energy, what is lent out included.
    pub staked_energy: Sun,
    /// The pool's own daily energy (what it lends out is not in it) and
    /// how much of it is used in the current window.
    pub energy_limit: u64,
    pub energy_used: u64,
    /// Staked TRX whose energy is lent out now.
    pub delegated_out: Sun,
    pub delegations: Vec<Delegation>,
}

impl PoolFigures {
    pub fn energy_available(&self) -> u64 {
        self.energy_limit.saturating_sub(self.energy_used)
    }

    /// Whole sweeps the available energy covers, given one sweep's energy.
    pub fn sweeps_covered(&self, sweep_energy: u64) -> u64 {
        self.energy_available() / sweep_energy.max(1)
    }

    /// The delegation walletops has seen longest.
    pub fn oldest_delegation(&self) -> Option<&Delegation> {
        self.delegations.iter().min_by_key(|d| d.since)
    }
}

/// One reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolState {
    /// The database's time of the reading, and its age when read back
    /// (both by the database clock: hosts' clocks may differ).
    pub observed_at: DateTime<Utc>,
    #[serde(default)]
    pub age_seconds: i64,
    /// SUN per unit of energy (`getEnergyFee`).
    pub energy_price: Sun,
    /// Energy one sweep borrows (recent sweeps' mean, or the node's
    /// estimate before the first, plus `energy.margin_percent`), when known.
    pub sweep_energy: Option<u64>,
    pub pool: Option<PoolFigures>,
}

fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// The last reading, if the maintainer has made one.
pub async fn read(db: impl PgExecutor<'_>) -> Result<Option<PoolState>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT observed_at, extract(epoch FROM now() - observed_at)::bigint AS "age!",
                  energy_price_sun, sweep_energy, pool_address, staked_energy_sun,
                  energy_limit, energy_used, delegated_out_sun,
                  delegations AS "delegations: Json<Vec<Delegation>>"
             FROM energy_pool_state"#
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| PoolState {
        observed_at: r.observed_at,
        age_seconds: r.age,
        energy_price: Sun(unsigned(Some(r.energy_price_sun))),
        sweep_energy: r.sweep_energy.map(|n| unsigned(Some(n))),
        pool: r.pool_address.map(|address| PoolFigures {
            address,
            staked_energy: Sun(unsigned(r.staked_energy_sun)),
            energy_limit: unsigned(r.energy_limit),
            energy_used: unsigned(r.energy_used),
            delegated_out: Sun(unsigned(r.delegated_out_sun)),
            delegations: r.delegations.0,
        }),
    }))
}

/// Replaces the reading, stamped with the database's time
/// (`observed_at` and `age_seconds` of `s` are not stored).
pub async fn record(db: impl PgExecutor<'_>, s: &PoolState) -> Result<(), sqlx::Error> {
    let p = s.pool.as_ref();
    let delegations = Json(p.map(|p| p.delegations.clone()).unwrap_or_default());
    sqlx::query!(
        r#"INSERT INTO energy_pool_state (id, observed_at, energy_price_sun, sweep_energy,
                                          pool_address, staked_energy_sun, energy_limit,
                                          energy_used, delegated_out_sun, delegations)
           VALUES (true, now(), $1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE
              SET observed_at = EXCLUDED.observed_at,
                  energy_price_sun = EXCLUDED.energy_price_sun,
                  sweep_energy = EXCLUDED.sweep_energy,
                  pool_address = EXCLUDED.pool_address,
                  staked_energy_sun = EXCLUDED.staked_energy_sun,
                  energy_limit = EXCLUDED.energy_limit,
                  energy_used = EXCLUDED.energy_used,
                  delegated_out_sun = EXCLUDED.delegated_out_sun,
                  delegations = EXCLUDED.delegations"#,
        db_int(s.energy_price.0),
        s.sweep_energy.map(db_int),
        p.map(|p| p.address.clone()),
        p.map(|p| db_int(p.staked_energy.0)),
        p.map(|p| db_int(p.energy_limit)),
        p.map(|p| db_int(p.energy_used)),
        p.map(|p| db_int(p.delegated_out.0)),
        delegations as Json<Vec<Delegation>>,
    )
    .execute(db)
    .await?;
    Ok(())
}
