//! Reads the energy price and the energy pool from the chain and records
//! them ([`crate::transfers::pool`]) for health, the stats and the console.
//! The maintenance leader does it every [`READ_EVERY`]: a few requests
//! (chain parameters; with a pool, its account, resources and delegation
//! index, and one request per account it delegates to, at most
//! [`DELEGATIONS_READ`]) instead of several on every console refresh.

use chrono::Utc;

use super::JobSettings;
use crate::settings::SettingsError;
use crate::transfers::pool::{self, Delegation, PoolFigures, PoolState};
use crate::tron::client::{ClientError, TronClient};
use crate::tron::tx::Resource;
use crate::tron::{Address, TokenUnits};
use crate::wallets::lookup::{self, PoolError};
use sqlx::PgPool;

pub use crate::transfers::pool::READ_EVERY;

/// Most delegations read one by one per reading; a pool that lends to more
/// accounts at once shows the first ones (its total comes from the account).
pub const DELEGATIONS_READ: usize = 50;

/// Why a reading failed; the previous one stays.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{0}")]
    Settings(#[from] SettingsError),
    #[error("the TRON node: {0}")]
    Node(#[from] ClientError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Reads the chain once and records what it found; returns the record.
pub async fn observe(db: &PgPool, tron: &TronClient) -> Result<PoolState, WatchError> {
    let settings = JobSettings::load(db).await?;
    let previous = pool::read(db).await?;
    let energy_price = tron.chain_parameters().await?.energy_fee;
    let measured = match crate::transfers::recent_sweep_energy(db).await? {
        Some(measured) => Some(measured),
        None => estimate_sweep(tron, &settings).await,
    };
    // What a sweep borrows: the jobs add the same margin when they lend.
    let sweep_energy = measured.map(|n| settings.energy_with_margin(n));
    // The pool the jobs would use; with none there is nothing to read (a
    // mode that needs one makes health say so).
    let pool = match lookup::energy_pool(db, settings.energy_wallet()?).await {
        Ok(p) => Some(read_pool(db, tron, p.address, previous.as_ref()).await?),
        Err(PoolError::Db(e)) => return Err(e.into()),
        Err(e) => {
            tracing::debug!(error = %e, "no energy pool to read");
            None
        }
    };
    let state = PoolState {
        observed_at: Utc::now(),
        age_seconds: 0,
        energy_price,
        sweep_energy,
        pool,
    };
    pool::record(db, &state).await?;
    // As stored: stamped with the database's clock.
    Ok(pool::read(db).await?.unwrap_or(state))
}

/// Before the first sweep, the node's estimate of a USDT
/// transfer to the treasury (from the treasury: it holds USDT once a sweep
/// landed); `None` when there is none to ask about.
async fn estimate_sweep(tron: &TronClient, s: &JobSettings) -> Option<u64> {
    let treasury = s.treasury().ok()??;
    match tron
        .estimate_trc20_transfer(&treasury, &s.usdt_contract, &treasury, TokenUnits(1))
        .await
    {
        Ok(e) => Some(e.total()).filter(|n| *n > 0),
        Err(e) => {
            tracing::debug!(error = %e, "cannot estimate a sweep's energy");
            None
        }
    }
}

async fn read_pool(
    db: &PgPool,
    tron: &TronClient,
    address: Address,
    previous: Option<&PoolState>,
) -> Result<PoolFigures, WatchError> {
    let resource = tron.get_account_resource(&address).await?;
    let stake = tron.stake_v2(&address).await?;
    let lent = crate::transfers::last_delegations(db, &address.to_base58()).await?;
    let seen = |to: &str| {
        let recorded = lent.iter().find(|(a, _)| a == to).map(|(_, at)| *at);
        recorded.or_else(|| {
            previous
                .and_then(|p| p.pool.as_ref())
                .filter(|p| p.address == address.to_base58())
                .and_then(|p| p.delegations.iter().find(|d| d.to == to))
                .map(|d| d.since)
        })
    };
    let now = Utc::now();
    let mut delegations = Vec::new();
    for (to, energy_sun) in tron.energy_lent(&address, DELEGATIONS_READ).await? {
        let to = to.to_base58();
        delegations.push(Delegation {
            since: seen(&to).unwrap_or(now),
            to,
            energy_sun,
        });
    }
    Ok(PoolFigures {
        address: address.to_base58(),
        staked_energy: stake.staked(Resource::Energy),
        energy_limit: resource.energy_limit,
        energy_used: resource.energy_used,
        delegated_out: stake.delegated_out.energy,
        delegations,
    })
}
