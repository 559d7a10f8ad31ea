//! The read side: health from live figures, and the stats the console,
//! `walletops status` and `/api/workers/stats` show. Every query here is
//! cheap on a `job_logs` of millions of rows (maintained counts, partial and
//! ordered indexes); none scans the table.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::AdminError;
use super::audit::{self, AuditEntry};
use super::audit_chain;
use super::health::{self, AuditVitals, GasWallet, Health, Thresholds, TronDenied, Vitals};
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
    let live_workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workers
          WHERE state <> 'stopped' AND last_heartbeat_at > now() - make_interval(secs => $1)",
    )
    .bind(thresholds.heartbeat_stale_seconds as f64)
    .fetch_one(pool)
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
    let tron_denied = crate::transfers::access::denial(pool)
        .await?
        .map(|d| TronDenied {
            since: d.denied_at,
            message: d.message,
        });
    let vitals = Vitals {
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

/// One worker process as the stats show it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct WorkerInfo {
    pub id: Uuid,
    pub host: String,
    pub pid: i32,
    pub version: String,
    /// active, idle, paused, error or stopped, as the worker last wrote it.
    pub state: String,
    /// Whether its heartbeat is fresh; a stale, unstopped worker is dead.
    pub live: bool,
    pub concurrency: i32,
    pub current_job_id: Option<Uuid>,
    pub jobs_in_flight: i32,
    pub jobs_done: i64,
    pub jobs_failed: i64,
    pub last_error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
}

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
    Ok(sqlx::query_as(
        "SELECT id, host, pid, version, state,
                state <> 'stopped' AND last_heartbeat_at > now() - make_interval(secs => $1) AS live,
                concurrency, current_job_id, jobs_in_flight, jobs_done, jobs_failed, last_error,
                started_at, last_heartbeat_at
           FROM workers
          WHERE stopped_at IS NULL OR stopped_at > now() - interval '1 hour'
          ORDER BY host, started_at",
    )
    .bind(stale_seconds as f64)
    .fetch_all(pool)
    .await?)
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
