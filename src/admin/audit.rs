//! The audit trail. The database writes it (migration 0007): triggers record
//! every change to configuration, wallets' address, role, user and key,
//! operators and tokens, whoever makes it and however; job actions are
//! recorded through `walletops_audit()`, which finds the actor itself. Every
//! row is stamped by the database (login, operator, server clock, seq) and
//! hash-chained ([`super::audit_chain`]); the table is append-only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{AdminError, Identity, Permission};

/// Job actions: the rows walletops writes itself (everything else is
/// written by the database's triggers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionType {
    Dispatch,
    Retry,
    Cancel,
    ClearFailed,
    ResetProcessing,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Dispatch => "job.dispatch",
            ActionType::Retry => "job.retry",
            ActionType::Cancel => "job.cancel",
            ActionType::ClearFailed => "jobs.clear_failed",
            ActionType::ResetProcessing => "jobs.reset_processing",
        }
    }
}

/// What the action touched.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: &'static str,
    pub id: Option<String>,
}

impl Target {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: Some(id.to_string()),
        }
    }

    pub fn kind(kind: &'static str) -> Self {
        Self { kind, id: None }
    }
}

/// Writes the audit row for a job action (in the caller's transaction)
/// through the database's `walletops_audit()`, which checks the actor's
/// right again and names the actor itself. Announced at commit.
pub async fn record(
    conn: &mut PgConnection,
    identity: &Identity,
    action: ActionType,
    target: &Target,
    details: Value,
) -> Result<Uuid, AdminError> {
    Ok(
        sqlx::query_scalar("SELECT walletops_audit($1, $2, $3, $4, $5)")
            .bind(action.as_str())
            .bind(target.kind)
            .bind(target.id.as_deref())
            .bind(details)
            .bind(identity.token())
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// One row of the audit trail, with the acting user's email when known.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
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

/// The newest audit rows by chain position (at most `limit`), optionally
/// only those stamped since a time.
pub async fn list(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AdminError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.seq, a.created_at, a.db_login, a.external, a.admin_user_id,
                u.email AS admin_email, a.action_type, a.target_type, a.target_id, a.details
           FROM admin_actions a LEFT JOIN auth.users u ON u.id = a.admin_user_id
          WHERE $1::timestamptz IS NULL OR a.created_at >= $1
          ORDER BY a.seq DESC NULLS FIRST
          LIMIT $2",
    )
    .bind(since)
    .bind(limit.clamp(1, 10_000))
    .fetch_all(pool)
    .await?)
}

/// A change made outside walletops that no admin has acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ExternalChange {
    pub seq: i64,
    pub db_login: Option<String>,
    pub action_type: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Unacknowledged external changes, oldest first (at most `limit`).
pub async fn unacknowledged(
    pool: &PgPool,
    limit: i64,
) -> Result<(i64, Vec<ExternalChange>), AdminError> {
    let condition = "a.external AND a.seq IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM admin_actions k
             WHERE k.action_type = 'audit.ack' AND NOT k.external
               AND k.target_id = a.seq::text)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM admin_actions a WHERE {condition}"
    )))
    .fetch_one(pool)
    .await?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.seq, a.db_login, a.action_type, a.target_type, a.target_id, a.created_at
           FROM admin_actions a WHERE {condition} ORDER BY a.seq LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

/// Acknowledges the external change at `seq` (admin only); the
/// acknowledgement is itself an audit row.
pub async fn acknowledge(pool: &PgPool, identity: &Identity, seq: i64) -> Result<Uuid, AdminError> {
    identity.authorize(Permission::AcknowledgeAudit)?;
    sqlx::query_scalar("SELECT walletops_audit_ack($1, $2)")
        .bind(seq)
        .bind(identity.token())
        .fetch_one(pool)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))
}

/// Acknowledges every unacknowledged external change up to and including
/// `seq` (admin only), one acknowledgement row each; returns how many.
pub async fn acknowledge_through(
    pool: &PgPool,
    identity: &Identity,
    seq: i64,
) -> Result<i64, AdminError> {
    identity.authorize(Permission::AcknowledgeAudit)?;
    sqlx::query_scalar("SELECT walletops_audit_ack_through($1, $2)")
        .bind(seq)
        .bind(identity.token())
        .fetch_one(pool)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(email: Option<&str>, actor: Value) -> AuditEntry {
        AuditEntry {
            id: Uuid::nil(),
            seq: Some(1),
            created_at: None,
            db_login: Some("wo_serve".into()),
            external: false,
            admin_user_id: None,
            admin_email: email.map(str::to_string),
            action_type: None,
            target_type: None,
            target_id: None,
            details: Some(json!({ "actor": actor })),
        }
    }

    #[test]
    fn the_actor_is_who_the_database_recorded() {
        let creator = Some("creator@example.com");
        let token = json!({"via": "token", "token_name": "ci", "db_login": "wo_serve"});
        assert_eq!(entry(creator, token).actor(), "token ci");
        let login = json!({"via": "login", "operator": "ann@example.com", "db_login": "ann"});
        assert_eq!(entry(creator, login).actor(), "ann@example.com");
        let sql = json!({"via": "sql", "db_login": "ann"});
        assert_eq!(entry(creator, sql).actor(), "sql ann");
        let migration = json!({"via": "migration", "db_login": "owner"});
        assert_eq!(entry(None, migration).actor(), "migration");
        let owner = json!({"via": "database-owner", "db_login": "owner"});
        assert_eq!(entry(None, owner).actor(), "db:owner");
        // A row from before migration 0007.
        assert_eq!(
            entry(None, json!({"db_user": "postgres"})).actor(),
            "db:wo_serve"
        );
    }
}
