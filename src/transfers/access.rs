//! `tron_access` (migration 0017): whether the TRON node refuses the
//! workers' credentials. Jobs record a refusal when one fails on it and
//! clear it when one completes; health reads it. It sits beside the
//! transfer records as the other chain-facing state workers keep.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The node's latest refusal, not yet cleared by a completed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub denied_at: DateTime<Utc>,
    pub message: String,
    pub job_id: Option<Uuid>,
}

/// Records that the node refused the credentials while `job_id` ran.
pub async fn record_denial(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO tron_access (id, denied_at, message, job_id, cleared_at)
         VALUES (true, now(), $1, $2, NULL)
         ON CONFLICT (id) DO UPDATE
            SET denied_at = now(), message = $1, job_id = $2, cleared_at = NULL",
        message,
        job_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A job completed with the node's help: any refusal is over. Writes
/// nothing when there is none.
pub async fn clear_denial(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE tron_access SET cleared_at = now() WHERE cleared_at IS NULL")
        .execute(db)
        .await?;
    Ok(())
}

/// The refusal in force, if any.
pub async fn denial(db: impl PgExecutor<'_>) -> Result<Option<Denial>, sqlx::Error> {
    sqlx::query_as!(
        Denial,
        "SELECT denied_at, message, job_id FROM tron_access WHERE cleared_at IS NULL",
    )
    .fetch_optional(db)
    .await
}
