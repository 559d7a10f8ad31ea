//! The read side: health from live figures, and the stats the console,
//! `walletops status` and `/api/workers/stats` show. Every query here is
//! cheap on a `job_logs` of millions of rows (maintained counts, partial and
//! ordered indexes); none scans the table.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::AdminError;
use super::audit::{self, AuditEntry};
use super::audit_chain;
use super::health::{
    self, AuditVitals, EnergyPool, GasWallet, Health, Thresholds, TronDenied, Vitals,
};
use crate::queue::JobType;
use crate::queue::{self, QueueCounts, Throughput};
use crate::settings::{GasMode, HealthSettings};
use crate::tron::Sun;

/// The failure-rate window of the health rule.
const HEALTH_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Throughput windows shown in stats.
const WINDOWS: [Duration; 3] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    HEALTH_WINDOW,
];

/// Health with the figures it came from.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    #[serde(flatten)]
    pub health: Health,
    pub vitals: Vitals,
    pub thresholds: Thresholds,
}

/// Computes health from the database now.
pub async fn health(pool: &PgPool) -> Result<HealthReport, AdminError> {
    let window = queue::throughput(pool, &[HEALTH_WINDOW]).await?;
    health_with(pool, window.first().copied(), &costs(pool).await?).await
}

/// Health, given the last 15 minutes' throughput and the costs already read.
async fn health_with(
    pool: &PgPool,
    window: Option<Throughput>,
    costs: &CostStats,
) -> Result<HealthReport, AdminError> {
    let HealthSettings {
        thresholds,
        paused,
        gas_wallet: gas_address,
        gas_mode,
        deposits_enabled,
    } = HealthSettings::load(pool).await?;
    let live_workers = queue::workers::live_count(
        pool,
        Duration::from_secs(thresholds.heartbeat_stale_seconds.max(0) as u64),
    )
    .await?;
    let (completed, failed) = window.map_or((0, 0), |w| (w.completed, w.failed));
    let oldest = queue::oldest_pending_age(pool).await?;
    let stuck_jobs = queue::stuck_count(pool).await?;
    let gas_wallet = match gas_address {
        None => GasWallet::NotConfigured,
        Some(address) => match crate::wallets::lookup::trx_balance_sun(pool, &address).await? {
            None => GasWallet::Missing { address },
            Some(trx_balance_sun) => GasWallet::Balance {
                address,
                trx_balance_sun,
            },
        },
    };
    let (unacknowledged_security_events, latest_security_event) =
        super::security::unacknowledged(pool).await?;
    let tron_denied = crate::transfers::access::denial(pool)
        .await?
        .map(|d| TronDenied {
            since: d.denied_at,
            message: d.message,
        });
    let deposits = if deposits_enabled {
        Some(crate::wallets::deposits::state(pool).await?)
    } else {
        None
    };
    let energy_pool = match costs
        .energy
        .as_ref()
        .and_then(|e| Some((e, e.pool.as_ref()?)))
    {
        Some((state, figures)) => EnergyPool::Read {
            address: figures.address.clone(),
            energy_available: figures.energy_available(),
            sweep_energy: state.sweep_energy,
            energy_price: state.energy_price,
            age_seconds: state.age_seconds,
        },
        None if gas_mode == GasMode::Burn => EnergyPool::NotConfigured,
        None => EnergyPool::NotRead,
    };
    let pending_sweeps = queue::counts(pool)
        .await?
        .by_type
        .iter()
        .find(|(t, _)| *t == JobType::Consolidation)
        .map_or(0, |(_, c)| c.pending);
    let vitals = Vitals {
        gas_mode,
        energy_pool,
        energy_burned_today: Sun(crate::transfers::energy_burned_today(pool).await?),
        pending_sweeps,
        deposits,
        tron_denied,
        unacknowledged_security_events,
        latest_security_event,
        audit: audit_vitals(pool).await?,
        paused,
        live_workers,
        finished_15m: completed + failed,
        failed_15m: failed,
        oldest_pending_seconds: oldest.map(|d| d.as_secs() as i64),
        stuck_jobs,
        gas_wallet,
    };
    Ok(HealthReport {
        health: health::assess(&vitals, &thresholds),
        vitals,
        thresholds,
    })
}

/// How many unacknowledged external changes health names.
const EXTERNAL_SHOWN: i64 = 3;

/// The chain's state (verified incrementally, see [`audit_chain::check`])
/// and the external changes still to acknowledge.
async fn audit_vitals(pool: &PgPool) -> Result<AuditVitals, AdminError> {
    let verification = audit_chain::check(pool).await?;
    let (unacknowledged, oldest_unacknowledged) =
        audit::unacknowledged(pool, EXTERNAL_SHOWN).await?;
    Ok(AuditVitals {
        head: verification.head,
        broken: verification.problem.map(|p| p.to_string()),
        unacknowledged,
        oldest_unacknowledged,
    })
}

pub use crate::queue::WorkerState;
pub use crate::queue::workers::WorkerInfo;

/// Everything the dashboards show.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub health: HealthReport,
    pub counts: QueueCounts,
    pub throughput: Vec<Throughput>,
    pub workers: Vec<WorkerInfo>,
    pub recent_actions: Vec<AuditEntry>,
    pub costs: CostStats,
    pub generated_at: DateTime<Utc>,
}

pub use crate::transfers::costs::{CostReport, CostWindow, Priced};
pub use crate::transfers::pool::{Delegation, PoolFigures, PoolState};

/// What the chain charged: today (UTC) and over the trailing 7 days, each
/// priced at the energy price the workers last read (see
/// [`crate::transfers::pool`]).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CostStats {
    pub today: CostWindow,
    pub last_7_days: CostWindow,
    /// The 7 days' burn equivalent (`last_7_days.priced`): what burning all
    /// the energy used would have cost at the current energy price; `None`
    /// until the workers have read the price.
    pub burn_equivalent: Option<crate::tron::Sun>,
    /// The energy pool and the price as last read from the chain (absent
    /// from an older server).
    #[serde(default)]
    pub energy: Option<PoolState>,
}

/// The stats' cost figures.
pub async fn costs(pool: &PgPool) -> Result<CostStats, AdminError> {
    let (today, last_7_days) = crate::transfers::costs::recent(pool).await?;
    let energy = crate::transfers::pool::read(pool).await?;
    let price = energy.as_ref().map(|e| e.energy_price);
    let last_7_days = last_7_days.with_price(price);
    Ok(CostStats {
        today: today.with_price(price),
        burn_equivalent: last_7_days.priced.map(|p| p.burn_equivalent),
        last_7_days,
        energy,
    })
}

/// `walletops costs`: per UTC day and transfer kind since `since`, priced
/// at the energy price the workers last read.
pub async fn cost_report(
    pool: &PgPool,
    since: chrono::NaiveDate,
) -> Result<CostReport, AdminError> {
    let report = crate::transfers::costs::report(pool, since).await?;
    let price = crate::transfers::pool::read(pool)
        .await?
        .map(|e| e.energy_price);
    Ok(report.with_price(price))
}

/// Workers that run, or stopped within the last hour.
pub async fn workers(pool: &PgPool, stale_seconds: i64) -> Result<Vec<WorkerInfo>, AdminError> {
    let stale = Duration::from_secs(stale_seconds.max(0) as u64);
    Ok(queue::workers::list(pool, stale).await?)
}

/// `host:pid` of each of these workers still registered.
pub async fn worker_labels(
    pool: &PgPool,
    ids: &[uuid::Uuid],
) -> Result<std::collections::HashMap<uuid::Uuid, String>, AdminError> {
    Ok(queue::workers::labels(pool, ids).await?)
}

/// Health, queue depth by status and type, throughput over recent windows,
/// workers and the last admin actions.
pub async fn snapshot(pool: &PgPool) -> Result<Stats, AdminError> {
    let throughput = queue::throughput(pool, &WINDOWS).await?;
    let window = throughput
        .iter()
        .find(|t| t.window_seconds == HEALTH_WINDOW.as_secs())
        .copied();
    let costs = costs(pool).await?;
    let health = health_with(pool, window, &costs).await?;
    Ok(Stats {
        counts: queue::counts(pool).await?,
        throughput,
        workers: workers(pool, health.thresholds.heartbeat_stale_seconds).await?,
        recent_actions: audit::list(pool, None, 10).await?,
        costs,
        health,
        generated_at: Utc::now(),
    })
}

/// The chain follower's state, whether or not `deposits.enabled` is on.
pub async fn deposits(
    pool: &PgPool,
) -> Result<crate::wallets::deposits::FollowerState, AdminError> {
    Ok(crate::wallets::deposits::state(pool).await?)
}

/// The deposits shown before their block is solidified.
pub async fn pending_deposits(
    pool: &PgPool,
) -> Result<Vec<crate::wallets::deposits::PendingDeposit>, AdminError> {
    Ok(crate::wallets::deposits::pending(pool).await?)
}
