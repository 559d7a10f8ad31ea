//! The job model: types and statuses parsed once at the edge, the row.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::db::ParseError;
use crate::db::text_enum;

/// What a job does; the queue only stores and routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobType {
    Sync,
    Consolidation,
    GasTopup,
}

text_enum!(JobType, "job type", {
    Sync => "sync",
    Consolidation => "consolidation",
    GasTopup => "gas-topup",
});

/// Where a job is in its lifecycle (the CHECK values of `job_logs.status`,
/// migrations/0001_foundation.sql).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

text_enum!(JobStatus, "job status", {
    Pending => "pending",
    Processing => "processing",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// What a worker process reports it is doing (`workers.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkerState {
    /// Running jobs.
    Active,
    /// Running, with nothing to do.
    Idle,
    /// Holding off because the workers are paused.
    Paused,
    /// Failing; the reason is in `workers.last_error`.
    Error,
    /// Shut down; the row stays for a while as history.
    Stopped,
}

text_enum!(WorkerState, "worker state", {
    Active => "active",
    Idle => "idle",
    Paused => "paused",
    Error => "error",
    Stopped => "stopped",
});

/// One row of `job_logs`. Type and status are optional only because rows
/// written by plain SQL may leave them NULL (the original admin page's
/// columns, kept as they were, allow it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub job_type: Option<JobType>,
    pub status: Option<JobStatus>,
    pub wallet_address: Option<String>,
    pub wallet_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub data: Option<serde_json::Value>,
    pub retry_count: Option<i32>,
    pub max_retries: Option<i32>,
    pub error_message: Option<String>,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<Uuid>,
    pub locked_until: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// How an attempt that did not succeed ended (`job_attempts.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// Failed; the job went back to pending for another attempt.
    Retry,
    /// Failed for good (out of retries, or a failure retrying cannot fix).
    Failed,
    /// Its lease ran out (the worker died or hung) and was taken back.
    Rescued,
}

text_enum!(AttemptOutcome, "attempt outcome", {
    Retry => "retry",
    Failed => "failed",
    Rescued => "rescued",
});

/// One attempt of a job that did not succeed (`job_attempts`, migration
/// 0019). A successful attempt is the job row itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: i32,
    /// host:pid of the worker as it was when the attempt ended.
    pub worker: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
}

/// A job to enqueue. `max_retries` comes from `queue.max_retries`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_type: JobType,
    /// Base58 address; at most one pending or processing job per
    /// (address, type). Jobs without an address are never deduplicated.
    pub wallet_address: Option<String>,
    pub wallet_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub data: serde_json::Value,
    /// Higher runs first.
    pub priority: i16,
    /// Not before this time; `None` is now.
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job of this type with no wallet, empty data, priority 0, due now.
    pub fn new(job_type: JobType) -> Self {
        Self {
            job_type,
            wallet_address: None,
            wallet_id: None,
            user_id: None,
            data: serde_json::json!({}),
            priority: 0,
            run_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_type_round_trips_and_rejects_unknown_with_the_valid_list() {
        for t in JobType::ALL {
            assert_eq!(t.as_str().parse::<JobType>().unwrap(), *t);
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(serde_json::from_str::<JobType>(&json).unwrap(), *t);
        }
        assert_eq!(JobType::GasTopup.as_str(), "gas-topup");
        let err = "gas_topup".parse::<JobType>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown job type \"gas_topup\"; valid: sync consolidation gas-topup"
        );
        assert!(serde_json::from_str::<JobType>("\"Sync\"").is_err());
    }

    #[test]
    fn job_status_round_trips() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), *s);
        }
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn worker_state_round_trips() {
        for s in WorkerState::ALL {
            assert_eq!(s.as_str().parse::<WorkerState>().unwrap(), *s);
        }
        assert!("busy".parse::<WorkerState>().is_err());
    }
}
