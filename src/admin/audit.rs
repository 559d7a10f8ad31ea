//! The audit trail, as operators use it: role checks here, the SQL in
//! [`crate::audit`]. The database writes it (migration 0007): triggers record
//! every change to configuration, wallets' address, role, user and key,
//! operators and tokens, whoever makes it and however; job actions are
//! recorded through `walletops_audit()`, which finds the actor itself. Every
//! row is stamped by the database (login, operator, server clock, seq) and
//! hash-chained ([`super::audit_chain`]); the table is append-only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{AdminError, Identity, Permission};
use crate::audit::trail;

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
    Ok(trail::record(
        conn,
        action.as_str(),
        target.kind,
        target.id.as_deref(),
        details,
        identity.token(),
    )
    .await?)
}

pub use crate::audit::trail::{AuditEntry, ExternalChange};

/// The newest audit rows by chain position (at most `limit`), optionally
/// only those stamped since a time.
pub async fn list(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AdminError> {
    Ok(trail::list(pool, since, limit).await?)
}

/// Unacknowledged external changes, oldest first (at most `limit`).
pub async fn unacknowledged(
    pool: &PgPool,
    limit: i64,
) -> Result<(i64, Vec<ExternalChange>), AdminError> {
    Ok(trail::unacknowledged(pool, limit).await?)
}

/// Acknowledges the external change at `seq` (admin only); the
/// acknowledgement is itself an audit row.
pub async fn acknowledge(pool: &PgPool, identity: &Identity, seq: i64) -> Result<Uuid, AdminError> {
    identity.authorize(Permission::AcknowledgeAudit)?;
    trail::acknowledge(pool, seq, identity.token())
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
    trail::acknowledge_through(pool, seq, identity.token())
        .await
        .map_err(|e| AdminError::from(e).refused(identity))
}

/// The stored hash of the audit row at `seq`: what a head recorded earlier
/// (`audit verify --head SEQ:HASH`) is compared with.
pub async fn stored_hash(pool: &PgPool, seq: i64) -> Result<Option<Vec<u8>>, AdminError> {
    Ok(trail::row_hash_at(pool, seq).await?)
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
