//! The energy pool as operators read it (`walletops energy status`, and
//! health and the console): what is staked, the energy it gives, what is
//! lent out and since when, how many sweeps the energy left covers, and
//! how many delegate+reclaim pairs the pool's bandwidth covers.
//! Read from the chain (the pool's account and delegations) and from the
//! transfer records (when each delegation was made).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::AdminError;
use crate::settings::JobSettings;
use crate::transfers as store;
use crate::tron::Sun;
use crate::tron::client::{ClientError, TronClient};
use crate::tron::tx::{Resource, delegation_pair_bytes};
use crate::wallets::lookup;

/// Energy of one USDT transfer to a holder when no sweep has been made
/// yet (about 64,285 on mainnet in 2026; `tron-facts.md`).
pub const ASSUMED_SWEEP_ENERGY: u64 = 65_000;

/// One delegation of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delegation {
    pub receiver: String,
    /// Staked SUN whose energy is lent.
    pub sun: u64,
    /// When our records last lent to this receiver; `None` when no record
    /// says so (lent around walletops).
    pub since: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
}

/// The pool now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnergyStatus {
    pub energy_wallet: String,
    /// Staked for energy, SUN, lent out or not.
    pub staked_sun: u64,
    /// The energy the pool's own (not lent) stake gives per day.
    pub energy_limit: u64,
    pub energy_used: u64,
    /// What the pool could spend or lend now.
    pub energy_available: u64,
    /// Staked SUN lent out, in total.
    pub delegated_out_sun: u64,
    pub delegations: Vec<Delegation>,
    /// The most staked SUN the pool can lend now (`getcandelegatedmaxsize`).
    pub can_delegate_sun: u64,
    /// Energy one sweep is lent: the mean of the recent sweeps (or
    /// [`ASSUMED_SWEEP_ENERGY`] before the first), plus
    /// `energy.margin_percent`.
    pub sweep_energy: u64,
    /// Whether `sweep_energy` comes from recent sweeps.
    pub sweep_energy_measured: bool,
    /// How many sweeps `energy_available` covers.
    pub sweeps_covered: u64,
    /// Staked for bandwidth, SUN: the pool's own delegations and reclaims
    /// use it before they burn TRX.
    pub staked_bandwidth_sun: u64,
    /// Bandwidth bytes the pool has left today, staked and free.
    pub bandwidth_available: u64,
    /// Bandwidth bytes one delegation and its reclaim use at most.
    pub pair_bytes: u64,
    /// How many delegate+reclaim pairs `bandwidth_available` covers
    /// without burning TRX.
    pub pairs_covered: u64,
}

/// Why the pool cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// No pool is configured, or it cannot be chosen: what to do.
    #[error("{0}")]
    NoPool(String),
    #[error("TRON node: {0}")]
    Tron(#[from] ClientError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl From<sqlx::Error> for EnergyError {
    fn from(e: sqlx::Error) -> Self {
        EnergyError::Admin(AdminError::from(e))
    }
}

/// Reads the pool (see [`EnergyStatus`]): `energy.wallet_address`, else
/// the one active energy wallet.
pub async fn status(pool: &PgPool, tron: &TronClient) -> Result<EnergyStatus, EnergyError> {
    let settings = JobSettings::load(pool)
        .await
        .map_err(|e| EnergyError::NoPool(e.to_string()))?;
    let configured = settings
        .energy_wallet()
        .map_err(|e| EnergyError::NoPool(e.to_string()))?;
    let wallet = match lookup::energy_pool(pool, configured).await {
        Ok(p) => p.address,
        Err(lookup::PoolError::Db(e)) => return Err(e.into()),
        Err(other) => return Err(EnergyError::NoPool(other.to_string())),
    };
    let stake = tron.stake_v2(&wallet).await?;
    let resource = tron.get_account_resource(&wallet).await?;
    let can = tron
        .can_delegated_max_size(&wallet, Resource::Energy)
        .await?;
    let since = store::last_delegations(pool, &wallet.to_base58()).await?;
    let now = Utc::now();
    let mut delegations = Vec::new();
    for (receiver, Sun(sun)) in tron.energy_lent(&wallet, usize::MAX).await? {
        let receiver = receiver.to_base58();
        let at = since
            .iter()
            .find(|(to, _)| *to == receiver)
            .map(|(_, at)| *at);
        delegations.push(Delegation {
            receiver,
            sun,
            since: at,
            age_seconds: at.map(|at| (now - at).num_seconds().max(0)),
        });
    }
    let recent = store::recent_sweep_energy(pool).await?;
    let sweep_energy = settings.energy_with_margin(recent.unwrap_or(ASSUMED_SWEEP_ENERGY));
    let available = resource.energy_available();
    let bandwidth = resource
        .staked_net_available()
        .saturating_add(resource.free_net_available());
    let pair_bytes = delegation_pair_bytes(wallet);
    Ok(EnergyStatus {
        energy_wallet: wallet.to_base58(),
        staked_sun: stake.staked(Resource::Energy).0,
        energy_limit: resource.energy_limit,
        energy_used: resource.energy_used,
        energy_available: available,
        delegated_out_sun: stake.delegated_out.energy.0,
        delegations,
        can_delegate_sun: can.0,
        sweep_energy,
        sweep_energy_measured: recent.is_some(),
        sweeps_covered: available / sweep_energy.max(1),
        staked_bandwidth_sun: stake.staked(Resource::Bandwidth).0,
        bandwidth_available: bandwidth,
        pair_bytes,
        pairs_covered: bandwidth / pair_bytes.max(1),
    })
}
