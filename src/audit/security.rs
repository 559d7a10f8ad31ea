//! Security events (policy refusals recorded by the workers) and their
//! acknowledgements (migration 0008).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// One security event with its acknowledgement, if any.
#[derive(Debug, Clone, Serialize)]
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

/// Records that the funds policy refused a transfer (`rule` names the
/// policy rule); nothing was signed.
pub async fn record_policy_refusal(
    pool: &PgPool,
    rule: &str,
    message: &str,
    job_id: Option<Uuid>,
    wallet_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO security_events (kind, rule, message, job_id, wallet_id)
         VALUES ('policy-refusal', $1, $2, $3, $4)",
        rule,
        message,
        job_id,
        wallet_id
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// The newest events (at most `limit`), the unacknowledged only unless `all`.
pub async fn list(pool: &PgPool, all: bool, limit: i64) -> Result<Vec<SecurityEvent>, sqlx::Error> {
    sqlx::query_as!(
        SecurityEvent,
        r#"SELECT e.id, e.created_at, e.kind, e.rule, e.message, e.job_id, e.wallet_id,
                  a.acknowledged_at AS "acknowledged_at?"
             FROM security_events e LEFT JOIN security_acks a ON a.event_id = e.id
            WHERE $1 OR a.event_id IS NULL
            ORDER BY e.created_at DESC, e.id
            LIMIT $2"#,
        all,
        limit
    )
    .fetch_all(pool)
    .await
}

/// How many events wait for an acknowledgement, and the newest one's message.
pub async fn unacknowledged(pool: &PgPool) -> Result<(i64, Option<String>), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "count!", (array_agg(e.message ORDER BY e.created_at DESC))[1] AS newest
             FROM security_events e
            WHERE NOT EXISTS (SELECT 1 FROM security_acks a WHERE a.event_id = e.id)"#
    )
    .fetch_one(pool)
    .await?;
    Ok((row.count, row.newest))
}

/// Acknowledges one event, or every unacknowledged one (`None`), with an
/// optional note, through the database's `walletops_security_ack()`, which
/// proves the actor itself (the login's operator, or `token`) and writes
/// the audit rows; returns the events acknowledged.
pub async fn acknowledge(
    pool: &PgPool,
    event: Option<Uuid>,
    note: Option<&str>,
    token: Option<&str>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT walletops_security_ack($1, $2, $3) AS "event!""#,
        event,
        note,
        token
    )
    .fetch_all(pool)
    .await
}
