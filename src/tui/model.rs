//! What the console shows: plain data that a [`ConsoleBackend`] fills from
//! the `admin` module. Nothing here queries anything; the screens only read
//! these structs, so a test can build any situation by hand.
//!
//! Ages are computed by the backend against the database clock and carried
//! as durations, so a console on a host with a skewed clock still shows the
//! truth, and a snapshot renders the same way every time.
//!
//! [`ConsoleBackend`]: super::ConsoleBackend

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::admin::health::Status;
pub use crate::admin::jobs::{BulkAction, BulkCount, FailureGroup, Failures, JobSelection};
pub use crate::admin::overview::HistoryMinute;
pub use crate::admin::stats::Priced;
pub use crate::admin::{
    Asset, AttemptOutcome, AttemptRecord, JobStatus, JobTransfer, JobType, Role, TransferStatus,
    WalletRole, WorkerState,
};
use crate::tron::Sun;

/// Job types in the order the console offers them (the dispatch wizard and
/// the Jobs screen's type filter).
pub const JOB_TYPES: [JobType; 3] = [JobType::Consolidation, JobType::GasTopup, JobType::Sync];

/// The health badge and the reasons behind it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub level: Status,
    pub reasons: Vec<String>,
}

/// One worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerView {
    pub id: Uuid,
    pub host: String,
    pub pid: u32,
    pub state: WorkerState,
    pub current_job: Option<Uuid>,
    pub heartbeat_age: Duration,
    pub jobs_done: u64,
    pub jobs_failed: u64,
    pub last_error: Option<String>,
}

/// Jobs of one type, counted by status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub pending: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl StatusCounts {
    pub fn get(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Pending => self.pending,
            JobStatus::Processing => self.processing,
            JobStatus::Completed => self.completed,
            JobStatus::Failed => self.failed,
            JobStatus::Cancelled => self.cancelled,
        }
    }
}

/// Queue depth of one job type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthRow {
    pub job_type: JobType,
    pub counts: StatusCounts,
}

/// A job named on the dashboard: the oldest pending one, or a stuck one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub id: Uuid,
    pub job_type: JobType,
    pub wallet_address: String,
    /// Waiting (pending) or running (stuck) for this long.
    pub age: Duration,
}

/// One job row with everything its detail pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub id: Uuid,
    pub job_type: JobType,
    pub status: JobStatus,
    pub wallet_address: String,
    /// The owner's email or name, when known.
    pub user: Option<String>,
    /// Times a worker took the job up (every claim, a manual retry's too).
    pub attempts: u32,
    /// Failed attempts since the job was queued or last retried by hand;
    /// at `max_retries` it fails for good.
    pub retry_count: u32,
    pub max_retries: u32,
    pub error_message: Option<String>,
    /// The job's `data`, pretty-printed JSON.
    pub data: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker that last took the job up, as `host:pid` (its id when the
    /// worker is no longer registered).
    pub locked_by: Option<String>,
}

/// Everything the detail view explains about one job, read when it opens
/// and at each refresh while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDetail {
    /// The database time of the read: relative times are measured from it.
    pub taken_at: DateTime<Utc>,
    pub job: JobView,
    /// host:pid of the worker holding the job, or that held it last, while
    /// that worker's row exists.
    pub worker: Option<String>,
    /// The attempts that did not succeed, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// The transfers the job made, oldest first.
    pub transfers: Vec<JobTransfer>,
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditView {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

/// A proposed change to a key that moves money, not yet in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    pub id: Uuid,
    pub key: String,
    /// The proposed value, as JSON text.
    pub value: String,
    pub proposed_by: String,
    /// `None` while it waits for a second admin's approval; then the time
    /// left, at the refresh, until it takes effect.
    pub applies_in: Option<Duration>,
}

/// A wallet found by the dispatch wizard's search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletHit {
    pub wallet_id: Uuid,
    pub address: String,
    pub user_email: Option<String>,
    pub user_name: Option<String>,
    pub role: WalletRole,
    pub trx_balance_sun: i64,
    pub usdt_balance: i64,
    /// Jobs already pending or processing for this wallet: dispatching the
    /// same type again returns that job instead of creating one.
    pub active_jobs: Vec<(JobType, Uuid)>,
}

/// The operator's standing, with a note when it limits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub operator: Option<String>,
    /// What the operator may do, as `admin` decides from their role and the
    /// database role the console connects as.
    pub role: Role,
    /// Why the role is lower than asked, e.g. a viewer database role.
    pub note: Option<String>,
}

/// Everything one refresh brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The database time of the refresh; job ages are measured from it.
    pub taken_at: DateTime<Utc>,
    pub health: Health,
    pub paused: bool,
    pub access: Access,
    pub workers: Vec<WorkerView>,
    pub depth: Vec<DepthRow>,
    /// True when large counts are planner estimates rather than exact.
    pub depth_estimated: bool,
    /// Jobs finished and queue depth per minute and job type, for the
    /// minutes this refresh read (see [`super::history`]).
    pub history: Vec<HistoryMinute>,
    pub oldest_pending: Option<JobRef>,
    pub stuck: Vec<JobRef>,
    /// Every stuck job (processing past its lease): what a reset takes back.
    pub stuck_total: u64,
    /// Wallets flagged as processing by a job that is not live: what a
    /// reset releases.
    pub orphaned_wallets: u64,
    /// Jobs, newest first.
    pub jobs: Vec<JobView>,
    /// Admin actions, newest first.
    pub audit: Vec<AuditView>,
    /// Open proposals to change keys that move money, newest first.
    pub pending_changes: Vec<PendingChange>,
    /// The failed jobs: every one (what clear-failed deletes) and the
    /// largest groups by error. Boxed: a snapshot travels in an event, which
    /// is only as small as its largest kind.
    pub failures: Box<Failures>,
    /// What the chain burned; `None` from a server that does not say.
    pub costs: Option<Box<Costs>>,
    /// The chain follower; `None` while `deposits.enabled` is off.
    pub deposits: Option<Deposits>,
}

/// The chain follower, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deposits {
    /// A worker holds the follower's lease.
    pub following: bool,
    /// The last block recorded, if any.
    pub block: Option<i64>,
    pub lag_blocks: Option<i64>,
    pub lag_seconds: Option<i64>,
    /// Unconfirmed deposits shown.
    pub pending: i64,
}

/// TRX burned for mined transfers, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs {
    pub today: Sun,
    pub last_7_days: Sun,
    /// Over the 7 days, activations left out; `None` with no sweep.
    pub per_sweep: Option<Sun>,
    /// The 7 days' burn equivalent and saving at the current energy price;
    /// `None` until the workers have read it.
    pub priced: Option<Priced>,
    /// The energy pool as last read; `None` when none is set.
    pub pool: Option<PoolView>,
}

/// The energy pool, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolView {
    pub energy_available: u64,
    /// Whole sweeps the available energy covers, when a sweep's energy is known.
    pub sweeps_covered: Option<u64>,
    /// Staked TRX whose energy is lent out, and to how many accounts.
    pub delegated_out: Sun,
    pub delegations: usize,
    /// How long the oldest delegation has been seen, at the refresh.
    pub oldest: Option<Duration>,
}

impl Snapshot {
    /// Total of one status over every job type.
    pub fn count(&self, status: JobStatus) -> u64 {
        self.depth.iter().map(|d| d.counts.get(status)).sum()
    }
}
