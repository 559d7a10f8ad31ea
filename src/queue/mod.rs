//! The job queue in PostgreSQL (`job_logs`): the job model, enqueueing,
//! batch claims with leases, outcomes guarded by attempt, rescue, retention,
//! wake-up notifications and counts.
//!
//! The queue is generic: it knows job rows, not what a job does.
//!
//! Two kinds of callers:
//! - operators (through `admin`): [`enqueue`], [`retry`], [`cancel`],
//!   [`clear_failed`], [`reset_stuck`], [`get`], [`list`] take a
//!   `&mut PgConnection` so that they can run inside the caller's
//!   transaction (with its audit row); the read-only figures ([`counts`],
//!   [`throughput`], [`stuck`], ...) take a pool.
//! - workers (through `engine`): [`claim`], [`finish`], [`heartbeat`] and
//!   [`maintenance`]; job handlers (`jobs`) enqueue follow-up jobs and read
//!   a wallet's jobs of a type ([`of_wallet_since`]), and build periodic
//!   sync on [`enqueue_many`] and the maintenance leader.
//!
//! `job_logs` and its counts (`job_counts`, `job_count_deltas`) are written
//! and read by SQL in this module only; other modules ask it. A statement
//! of another table that must check a job in the same statement (a
//! wallet's processing flag) lives with its main table and says why. Which
//! wallets or users a job belongs to is its callers' business.
//!
//! Every state change a worker makes names the lease it belongs to
//! ([`Lease`]: job id, attempt, holder), so a late answer from a worker that
//! lost its lease, or a rescue racing a completion, changes nothing.

mod bulk;
mod config;
pub mod id;
pub mod maintenance;
mod ops;
mod stats;
mod types;
mod work;
pub mod workers;

use crate::db::listen::Channel;
pub use bulk::{
    BulkAction, BulkCount, FailureGroup, Failures, GROUPED_AT_MOST, JobSelection,
    apply as apply_selected, count as count_selected, failures,
};
pub use config::QueueConfig;
pub use id::{IdFragment, IdFragmentError, short_id, short_id_len, short_len};
pub use ops::{
    Enqueued, JobCursor, JobFilter, active_of_wallets, attempts, cancel, clear_failed,
    delete_marked, enqueue, enqueue_many, enqueue_many_in, find_by_fragment, get, list,
    of_wallet_since, reset_stuck, retry,
};
pub use stats::{
    HistoryMinute, JobAge, QueueCounts, StatusCounts, Stuck, Throughput, counts, history,
    oldest_pending, oldest_pending_age, stuck, stuck_count, throughput,
};
pub use types::{
    AttemptOutcome, AttemptRecord, Job, JobStatus, JobType, NewJob, ParseError, WorkerState,
};
pub use work::{
    Finish, Lease, Outcome, RescueOutcome, claim, claim_ahead, finish, heartbeat, hold_lease,
    next_due, note, rescue_expired, start,
};

/// Channel on which the database announces new or newly pending jobs
/// (once per statement).
pub const JOBS_CHANNEL: &str = Channel::Jobs.name();
/// Channel on which the database announces `system_config` changes; the
/// payload is the key, or `*` when one statement changed several.
pub const CONFIG_CHANNEL: &str = Channel::Config.name();
/// Channel on which the database announces that jobs changed status or were
/// deleted (once per statement), for consoles and event streams; workers do
/// not listen to it.
pub const JOB_STATES_CHANNEL: &str = Channel::JobStates.name();

/// What can go wrong in a queue operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No job has this id.
    #[error("job {0} not found")]
    NotFound(uuid::Uuid),
    /// The job is not in a state the action applies to.
    #[error("job {id} is {status}: cannot {action} it ({hint})")]
    InvalidState {
        id: uuid::Uuid,
        status: String,
        action: &'static str,
        hint: &'static str,
    },
    /// Another pending or processing job holds the same wallet and type.
    #[error("wallet {wallet} already has a {job_type} job in progress: {existing}")]
    Duplicate {
        wallet: String,
        job_type: JobType,
        existing: uuid::Uuid,
    },
    /// A `system_config` value the queue needs is not what it should be.
    #[error("system_config {key}: {message}")]
    Config { key: &'static str, message: String },
    /// The maintenance leader's lease ran out: another process may lead.
    #[error("the maintenance lease ran out: another process may lead now")]
    LeadershipLost,
    /// The database failed.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}
