//! The read side: health from live figures, and the stats the console,
//! `walletops status` and `/api/workers/stats` show. Every query here is
//! cheap on a `job_logs` of millions of rows (maintained counts, partial and
//! ordered indexes); none scans the table.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::AdminError;
use super::audit::{self, AuditEntry};
use super::audit_chain;
use super::health::{self, AuditVitals, GasWallet, Health, Thresholds, Vitals};
use crate::queue::{self, QueueCounts, Throughput};

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

/// The switches health reads, in one query.
async fn health_settings(pool: &PgPool) -> Result<(Thresholds, bool, Option<String>), AdminError> {
    let rows: Vec<(String, Option<Value>)> = sqlx::query_as(
        "SELECT key, value FROM system_config
          WHERE key LIKE 'health.%' OR key IN ('gas.min_balance_sun', 'gas.wallet_address', 'workers.paused')",
    )
    .fetch_all(pool)
    .await?;
    let mut t = Thresholds::default();
    let mut paused = false;
    let mut gas_address = None;
    for (key, value) in rows {
        let Some(value) = value else { continue };
        let n = value.as_i64();
        let slot = match key.as_str() {
            "workers.paused" => {
                paused = value.as_bool().unwrap_or(false);
                continue;
            }
            "gas.wallet_address" => {
                gas_address = value.as_str().map(str::to_string);
                continue;
            }
            "gas.min_balance_sun" => &mut t.gas_min_balance_sun,
            "health.heartbeat_stale_seconds" => &mut t.heartbeat_stale_seconds,
            "health.failure_rate_degraded_pct" => &mut t.failure_rate_degraded_pct,
            "health.failure_rate_down_pct" => &mut t.failure_rate_down_pct,
            "health.failure_rate_min_jobs" => &mut t.failure_rate_min_jobs,
            "health.oldest_pending_degraded_seconds" => &mut t.oldest_pending_degraded_seconds,
            "health.oldest_pending_down_seconds" => &mut t.oldest_pending_down_seconds,
            "health.stuck_processing_degraded" => &mut t.stuck_processing_degraded,
            _ => continue,
        };
        if let Some(n) = n {
            *slot = n;
        }
    }
    Ok((t, paused, gas_address))
}

/// Computes health from the database now.
pub async fn health(pool: &PgPool) -> Result<HealthReport, AdminError> {
    let window = queue::throughput(pool, &[HEALTH_WINDOW]).await?;
    health_with(pool, window.first().copied()).await
}

/// Health, given the last 15 minutes' throughput already read.
async fn health_with(
    pool: &PgPool,
    window: Option<Throughput>,
) -> Result<HealthReport, AdminError> {
    let (thresholds, paused, gas_address) = health_settings(pool).await?;
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
        Some(address) => {
            // TO MOVE: a wallets-module read, here until that module lands.
            let balance: Option<i64> =
                sqlx::query_scalar("SELECT trx_balance_sun FROM user_wallets WHERE address = $1")
                    .bind(&address)
                    .fetch_optional(pool)
                    .await?;
            match balance {
                None => GasWallet::Missing { address },
                Some(trx_balance_sun) => GasWallet::Balance {
                    address,
                    trx_balance_sun,
                },
            }
        }
    };
    let (unacknowledged_security_events, latest_security_event) =
        super::security::unacknowledged(pool).await?;
    let vitals = Vitals {
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
    pub generated_at: DateTime<Utc>,
}

/// Workers that run, or stopped within the last hour.
pub async fn workers(pool: &PgPool, stale_seconds: i64) -> Result<Vec<WorkerInfo>, AdminError> {
    let stale = Duration::from_secs(stale_seconds.max(0) as u64);
    Ok(queue::workers::list(pool, stale).await?)
}

/// Health, queue depth by status and type, throughput over recent windows,
/// workers and the last admin actions.
pub async fn snapshot(pool: &PgPool) -> Result<Stats, AdminError> {
    let throughput = queue::throughput(pool, &WINDOWS).await?;
    let window = throughput
        .iter()
        .find(|t| t.window_seconds == HEALTH_WINDOW.as_secs())
        .copied();
    let health = health_with(pool, window).await?;
    Ok(Stats {
        counts: queue::counts(pool).await?,
        throughput,
        workers: workers(pool, health.thresholds.heartbeat_stale_seconds).await?,
        recent_actions: audit::list(pool, None, 10).await?,
        health,
        generated_at: Utc::now(),
    })
}
