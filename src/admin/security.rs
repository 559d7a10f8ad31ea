//! Security events (policy refusals recorded by the workers): the list, and
//! an admin's acknowledgement, which the database checks and audits
//! (migration 0008). While one is not acknowledged, health is Down
//! ([`super::health`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{AdminError, Identity, Permission};

/// One security event with its acknowledgement, if any.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SecurityEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub kind: String,
    pub rule: String,
    pub message: String,
    pub job_id: Option<Uuid>,
    pub wallet_id: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The newest events (at most `limit`), the unacknowledged only unless `all`.
pub async fn list(pool: &PgPool, all: bool, limit: i64) -> Result<Vec<SecurityEvent>, AdminError> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.created_at, e.kind, e.rule, e.message, e.job_id, e.wallet_id,
                a.acknowledged_at
           FROM security_events e LEFT JOIN security_acks a ON a.event_id = e.id
          WHERE $1 OR a.event_id IS NULL
          ORDER BY e.created_at DESC, e.id
          LIMIT $2",
    )
    .bind(all)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// How many events wait for an acknowledgement, and the newest one's message.
pub async fn unacknowledged(pool: &PgPool) -> Result<(i64, Option<String>), AdminError> {
    Ok(sqlx::query_as(
        "SELECT count(*), (array_agg(e.message ORDER BY e.created_at DESC))[1]
           FROM security_events e
          WHERE NOT EXISTS (SELECT 1 FROM security_acks a WHERE a.event_id = e.id)",
    )
    .fetch_one(pool)
    .await?)
}

/// Acknowledges one event, or every unacknowledged one (`None`), with an
/// optional note; returns the events acknowledged. Admin only: the
/// database's `walletops_security_ack()` proves the actor itself (the
/// login's operator, or the API token) and writes the audit rows.
pub async fn acknowledge(
    pool: &PgPool,
    identity: &Identity,
    event: Option<Uuid>,
    note: Option<&str>,
) -> Result<Vec<Uuid>, AdminError> {
    identity.authorize(Permission::AcknowledgeSecurity)?;
    let acked: Vec<Uuid> = sqlx::query_scalar("SELECT walletops_security_ack($1, $2, $3)")
        .bind(event)
        .bind(note)
        .bind(identity.token())
        .fetch_all(pool)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    tracing::info!(identity = %identity, count = acked.len(), "security events acknowledged");
    Ok(acked)
}
