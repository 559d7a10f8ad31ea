//! Everything the operations console shows, read in one place, so that a
//! console on the database and a console over the HTTP API (which serves
//! this as JSON) show the same thing. The parts are read one after another,
//! not in one transaction: counts and lists may be milliseconds apart, and
//! the next refresh lines them up.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::overview::{self, HistoryMinute, Job, JobAge, JobFilter, JobStatus, JobType};
use super::{AdminError, Role, StatusCounts, audit, health, proposals, stats};

/// Jobs fetched per refresh, newest first: the Jobs screen filters these.
const JOBS_SHOWN: u32 = JobFilter::MAX_LIMIT;
/// Newest jobs fetched of each status an operator acts on, so that the
/// status filter finds them even under thousands of newer finished jobs.
const JOBS_PER_ACTIVE_STATUS: u32 = 300;
/// Audit rows fetched per refresh.
const AUDIT_SHOWN: i64 = 200;
/// The most minutes of history one read returns: what the console's
/// charts show.
pub const HISTORY_MINUTES: u32 = 30;
/// Stuck jobs named on the dashboard.
const STUCK_SHOWN: u32 = 10;
/// Open proposals the dashboard lists (there is at most one per money key).
const CHANGES_SHOWN: i64 = 20;

/// Who is asking, as a console over the API shows it (`GET /api/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Whoami {
    pub role: Role,
    /// The token's name (or the operator).
    pub name: String,
    /// `ui.refresh_seconds` (its default when missing or malformed; `None`
    /// only from a server that did not send it).
    pub refresh_seconds: Option<u64>,
}

/// `GET /api/console/snapshot`'s answer: who asked, and what they see.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleSnapshot {
    pub caller: Whoami,
    pub data: ConsoleData,
}

/// One refresh's worth of data, in `admin`'s types.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleData {
    /// The database's clock when the reads began; ages are measured from it.
    pub taken_at: DateTime<Utc>,
    pub health: health::Health,
    pub paused: bool,
    /// After this long without a heartbeat a worker counts as dead.
    pub heartbeat_stale_seconds: i64,
    pub workers: Vec<stats::WorkerInfo>,
    /// Queue depth per job type.
    pub depth: Vec<(JobType, StatusCounts)>,
    /// Per minute and job type, oldest first: jobs finished and the queue
    /// depth, over the minutes asked for (the console asks the whole chart
    /// once, then only the minutes since its last read).
    pub history: Vec<HistoryMinute>,
    pub oldest_pending: Option<JobAge>,
    /// The longest stuck jobs, at most a few.
    pub stuck: Vec<JobAge>,
    /// Every stuck job: how many reset-processing takes back.
    pub stuck_total: i64,
    /// Wallets flagged as processing by a job that is not live: how many
    /// reset-processing releases (absent from an older server).
    #[serde(default)]
    pub orphaned_wallets: u64,
    /// See [`read`]: newest first.
    pub jobs: Vec<Job>,
    /// The email (else the name) of each job's owner.
    pub user_labels: HashMap<Uuid, String>,
    /// `host:pid` of the workers the jobs name (`locked_by`), when still
    /// registered.
    #[serde(default)]
    pub worker_labels: HashMap<Uuid, String>,
    /// Audit rows, newest first.
    pub audit: Vec<audit::AuditEntry>,
    /// Open proposals to change keys that move money, newest first.
    pub pending_changes: Vec<proposals::Proposal>,
    /// The failed jobs and their largest groups by error (absent from a
    /// server older than this field).
    #[serde(default)]
    pub failures: super::jobs::Failures,
    /// TRX burned today and over 7 days (absent from an older server).
    #[serde(default)]
    pub costs: Option<stats::CostStats>,
    /// The chain follower, when `deposits.enabled` is on (absent from an
    /// older server).
    #[serde(default)]
    pub deposits: Option<crate::wallets::deposits::FollowerState>,
}

/// Reads what the console shows. `job_search` is the Jobs screen's search
/// text: besides the newest jobs, the jobs whose wallet address or user
/// email starts with it are read from the whole table, so that a search
/// finds old jobs too. `history_minutes` (1 to [`HISTORY_MINUTES`]) is how
/// far back the per-minute history goes.
pub async fn read(
    pool: &PgPool,
    job_search: &str,
    history_minutes: u32,
) -> Result<ConsoleData, AdminError> {
    let taken_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    let stats = stats::snapshot(pool).await?;
    let history = overview::history(pool, history_minutes.clamp(1, HISTORY_MINUTES)).await?;
    let oldest_pending = overview::oldest_pending(pool).await?;
    let stuck = overview::stuck(pool, STUCK_SHOWN).await?;
    let orphaned_wallets = super::jobs::orphaned_wallets(pool).await?;
    let jobs = jobs_in_view(pool, job_search).await?;
    let mut owners: Vec<Uuid> = jobs.iter().filter_map(|j| j.user_id).collect();
    owners.sort_unstable();
    owners.dedup();
    let user_labels = overview::user_labels(pool, &owners).await?;
    let mut holders: Vec<Uuid> = jobs.iter().filter_map(|j| j.locked_by).collect();
    holders.sort_unstable();
    holders.dedup();
    let worker_labels = stats::worker_labels(pool, &holders).await?;
    let audit = audit::list(pool, None, AUDIT_SHOWN).await?;
    // A console is an admin's read: it carries out what is due first, so
    // the countdowns it shows are of changes still to come.
    proposals::apply_due_quietly(pool).await;
    let pending_changes = proposals::list(pool, false, CHANGES_SHOWN).await?;
    let failures = super::jobs::failures(pool, super::jobs::FAILURE_GROUPS_SHOWN).await?;
    Ok(ConsoleData {
        taken_at,
        health: stats.health.health,
        paused: stats.health.vitals.paused,
        heartbeat_stale_seconds: stats.health.thresholds.heartbeat_stale_seconds,
        workers: stats.workers,
        depth: stats.counts.by_type,
        history,
        oldest_pending,
        stuck: stuck.longest,
        stuck_total: stuck.total,
        orphaned_wallets,
        jobs,
        user_labels,
        worker_labels,
        audit,
        pending_changes,
        failures,
        costs: Some(stats.costs),
        deposits: stats.health.vitals.deposits.clone(),
    })
}

/// The newest jobs, plus the newest pending, processing and failed ones
/// (which a busy queue would push out of the newest), plus the newest ones
/// matching `search` (wallet address or user email prefix), newest first.
async fn jobs_in_view(pool: &PgPool, search: &str) -> Result<Vec<Job>, AdminError> {
    let mut jobs = super::jobs::list(
        pool,
        &JobFilter {
            limit: JOBS_SHOWN,
            ..JobFilter::default()
        },
    )
    .await?;
    let mut seen: HashSet<Uuid> = jobs.iter().map(|j| j.id).collect();
    let by_status =
        [JobStatus::Pending, JobStatus::Processing, JobStatus::Failed].map(|status| JobFilter {
            status: Some(status),
            limit: JOBS_PER_ACTIVE_STATUS,
            ..JobFilter::default()
        });
    let matching = (!search.is_empty()).then(|| JobFilter {
        search: Some(search.to_string()),
        limit: JOBS_SHOWN,
        ..JobFilter::default()
    });
    for filter in by_status.into_iter().chain(matching) {
        let more = super::jobs::list(pool, &filter).await?;
        jobs.extend(more.into_iter().filter(|j| seen.insert(j.id)));
    }
    // The order of `jobs::list`: newest first, then by id.
    jobs.sort_by_key(|j| std::cmp::Reverse((j.created_at, j.id)));
    Ok(jobs)
}
