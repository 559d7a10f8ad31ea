//! The `workers` table: one row per worker process, written by its engine
//! (registration, heartbeat, stop) and read by health, stats and the
//! benchmark. Every statement on the table is here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{QueueError, WorkerState};

/// Who a worker process is, for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorker<'a> {
    pub id: Uuid,
    pub host: &'a str,
    pub pid: i32,
    pub version: &'a str,
    pub concurrency: i32,
}

/// What a heartbeat writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub state: WorkerState,
    /// The job running now (the last one started), if any still exists.
    pub current_job_id: Option<Uuid>,
    pub jobs_in_flight: i32,
    pub jobs_done: i64,
    pub jobs_failed: i64,
    /// Kept as it was when `None`.
    pub last_error: Option<String>,
}

/// One worker process as the stats show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub id: Uuid,
    pub host: String,
    pub pid: i32,
    pub version: String,
    /// As the worker last wrote it.
    pub state: WorkerState,
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

/// Inserts a starting worker's row (state idle).
pub async fn register(pool: &PgPool, worker: &NewWorker<'_>) -> Result<(), QueueError> {
    sqlx::query!(
        "INSERT INTO workers (id, host, pid, version, state, concurrency)
         VALUES ($1, $2, $3, $4, $5, $6)",
        worker.id,
        worker.host,
        worker.pid,
        worker.version,
        WorkerState::Idle as WorkerState,
        worker.concurrency,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Writes a heartbeat: state, counters and the time.
pub async fn beat(pool: &PgPool, id: Uuid, beat: &Beat) -> Result<(), QueueError> {
    // current_job_id references job_logs: a job deleted meanwhile (retention,
    // an operator) is written as NULL instead of failing the heartbeat.
    sqlx::query!(
        "UPDATE workers
            SET state = $2, current_job_id = (SELECT id FROM job_logs WHERE id = $3),
                jobs_in_flight = $4, jobs_done = $5, jobs_failed = $6,
                last_error = coalesce($7, last_error), last_heartbeat_at = now()
          WHERE id = $1",
        id,
        beat.state as WorkerState,
        beat.current_job_id as Option<Uuid>,
        beat.jobs_in_flight,
        beat.jobs_done,
        beat.jobs_failed,
        beat.last_error.as_deref() as Option<&str>,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a worker stopped, with its final counts.
pub async fn mark_stopped(
    pool: &PgPool,
    id: Uuid,
    jobs_done: i64,
    jobs_failed: i64,
) -> Result<(), QueueError> {
    sqlx::query!(
        "UPDATE workers
            SET state = $2, stopped_at = now(), current_job_id = NULL,
                jobs_in_flight = 0, jobs_done = $3, jobs_failed = $4, last_heartbeat_at = now()
          WHERE id = $1",
        id,
        WorkerState::Stopped as WorkerState,
        jobs_done,
        jobs_failed,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Workers not stopped whose heartbeat is younger than `stale`.
pub async fn live_count(pool: &PgPool, stale: Duration) -> Result<i64, QueueError> {
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM workers
            WHERE state <> $1 AND last_heartbeat_at > now() - make_interval(secs => $2)"#,
        WorkerState::Stopped as WorkerState,
        stale.as_secs_f64(),
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Workers that run, or stopped within the last hour; `live` by a heartbeat
/// younger than `stale`.
pub async fn list(pool: &PgPool, stale: Duration) -> Result<Vec<WorkerInfo>, QueueError> {
    Ok(sqlx::query_as!(
        WorkerInfo,
        r#"SELECT id, host, pid, version, state AS "state: WorkerState",
                  state <> $2 AND last_heartbeat_at > now() - make_interval(secs => $1) AS "live!",
                  concurrency, current_job_id, jobs_in_flight, jobs_done, jobs_failed, last_error,
                  started_at, last_heartbeat_at
             FROM workers
            WHERE stopped_at IS NULL OR stopped_at > now() - interval '1 hour'
            ORDER BY host, started_at"#,
        stale.as_secs_f64(),
        WorkerState::Stopped as WorkerState,
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes a worker's row (the benchmark's own, when it is done).
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<(), QueueError> {
    sqlx::query!("DELETE FROM workers WHERE id = $1", id)
        .execute(pool)
        .await?;
    Ok(())
}

/// `host:pid` of each of these workers still registered, for people: a job
/// names its worker by id, which nobody reads.
pub async fn labels(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, QueueError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows = sqlx::query!(
        r#"SELECT id, host || ':' || pid AS "label!" FROM workers WHERE id = ANY($1)"#,
        ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.label)).collect())
}

/// A worker as people name it, `host:pid`; `None` once its row is gone.
pub async fn label(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<String>, QueueError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT host || ':' || pid AS "label!" FROM workers WHERE id = $1"#,
        id,
    )
    .fetch_optional(conn)
    .await?)
}
