//! The rows of `admin_actions`: written by the database (its triggers and
//! its functions), read here. Every row is stamped by the database (login,
//! operator, server clock, seq) and hash-chained ([`super::chain`]); the
//! table is append-only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Writes the audit row of an action (in the caller's transaction) through
/// the database's `walletops_audit()`, which checks the actor's right again
/// and names the actor itself (the login's operator, or `token`).
pub async fn record(
    conn: &mut PgConnection,
    action: &str,
    target_kind: &str,
    target_id: Option<&str>,
    details: Value,
    token: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT walletops_audit($1, $2, $3, $4, $5) AS "id!""#,
        action,
        target_kind,
        target_id,
        details,
        token
    )
    .fetch_one(conn)
    .await
}

/// One row of the audit trail, with the acting user's email when known.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Uuid,
    /// Position in the chain (NULL only for a row slipped in around the
    /// stamping trigger: `audit verify` reports it).
    pub seq: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    /// The database login that made the change.
    pub db_login: Option<String>,
    /// True when the change did not go through walletops (plain SQL).
    pub external: bool,
    pub admin_user_id: Option<Uuid>,
    pub admin_email: Option<String>,
    pub action_type: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: Option<Value>,
}

impl AuditEntry {
    /// Who acted, as the database recorded it in the row's `actor`: a token
    /// by its name (`admin_user_id` names only the token's creator), an
    /// operator by email, a change made outside walletops as `sql LOGIN`.
    /// Rows older than migration 0007 fall back to what they carry.
    pub fn actor(&self) -> String {
        let actor = self.details.as_ref().and_then(|d| d.get("actor"));
        let field = |key: &str| actor.and_then(|a| a.get(key)).and_then(Value::as_str);
        let email = self.admin_email.as_deref();
        let login = field("db_login")
            .or(self.db_login.as_deref())
            .or(field("db_user"));
        if let Some(name) = field("token_name") {
            return format!("token {name}");
        }
        match field("via") {
            Some("migration") => "migration".into(),
            Some("sql") => format!("sql {}", login.unwrap_or("?")),
            Some("login") => field("operator").or(email).unwrap_or("?").into(),
            _ => email
                .map(str::to_string)
                .or_else(|| login.map(|l| format!("db:{l}")))
                .unwrap_or_else(|| "unknown".into()),
        }
    }
}

/// The newest audit rows by chain position (at most `limit`, clamped to
/// 1..=10000), optionally only those stamped since a time.
pub async fn list(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    // The audit rows are what is listed; auth.users only names the actor.
    sqlx::query_as!(
        AuditEntry,
        r#"SELECT a.id, a.seq, a.created_at, a.db_login, a.external, a.admin_user_id,
                  u.email AS "admin_email?", a.action_type, a.target_type, a.target_id, a.details
             FROM admin_actions a LEFT JOIN auth.users u ON u.id = a.admin_user_id
            WHERE $1::timestamptz IS NULL OR a.created_at >= $1
            ORDER BY a.seq DESC NULLS FIRST
            LIMIT $2"#,
        since,
        limit.clamp(1, 10_000)
    )
    .fetch_all(pool)
    .await
}

/// A change made outside walletops that no admin has acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalChange {
    pub seq: i64,
    pub db_login: Option<String>,
    pub action_type: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// How many external changes wait for an acknowledgement, and the oldest
/// of them (at most `limit`). Both statements use the same predicate: an
/// external, chained row without a non-external `audit.ack` row naming its
/// seq.
pub async fn unacknowledged(
    pool: &PgPool,
    limit: i64,
) -> Result<(i64, Vec<ExternalChange>), sqlx::Error> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM admin_actions a
            WHERE a.external AND a.seq IS NOT NULL AND NOT EXISTS (
                  SELECT 1 FROM admin_actions k
                   WHERE k.action_type = 'audit.ack' AND NOT k.external
                     AND k.target_id = a.seq::text)"#
    )
    .fetch_one(pool)
    .await?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let rows = sqlx::query_as!(
        ExternalChange,
        r#"SELECT a.seq AS "seq!", a.db_login, a.action_type, a.target_type, a.target_id,
                  a.created_at
             FROM admin_actions a
            WHERE a.external AND a.seq IS NOT NULL AND NOT EXISTS (
                  SELECT 1 FROM admin_actions k
                   WHERE k.action_type = 'audit.ack' AND NOT k.external
                     AND k.target_id = a.seq::text)
            ORDER BY a.seq LIMIT $1"#,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

/// Acknowledges the external change at `seq` through the database's
/// `walletops_audit_ack()` (which checks the actor's right); the
/// acknowledgement is itself an audit row, whose id this returns.
pub async fn acknowledge(
    pool: &PgPool,
    seq: i64,
    token: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT walletops_audit_ack($1, $2) AS "id!""#, seq, token)
        .fetch_one(pool)
        .await
}

/// Acknowledges every unacknowledged external change up to and including
/// `seq`, one acknowledgement row each; returns how many.
pub async fn acknowledge_through(
    pool: &PgPool,
    seq: i64,
    token: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT walletops_audit_ack_through($1, $2) AS "count!""#,
        seq,
        token
    )
    .fetch_one(pool)
    .await
}

/// The stored hash of the row at `seq`, if there is one with a hash.
pub async fn row_hash_at(pool: &PgPool, seq: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("SELECT row_hash FROM admin_actions WHERE seq = $1", seq)
            .fetch_optional(pool)
            .await?
            .flatten(),
    )
}
