//! The audit trail: one `admin_actions` row per operator action, written on
//! the action's own connection inside its transaction, so that the change
//! and its record commit or vanish together. The table is append-only (a
//! trigger refuses UPDATE, DELETE and TRUNCATE, even for its owner).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{ADMIN_CHANNEL, AdminError, Identity};

/// What was done, as `admin_actions.action_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionType {
    WorkersStart,
    WorkersPause,
    Dispatch,
    Retry,
    Cancel,
    ClearFailed,
    ResetProcessing,
    ConfigSet,
    OperatorAdd,
    OperatorRemove,
    TokenCreate,
    TokenRevoke,
    WalletImport,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::WorkersStart => "workers.start",
            ActionType::WorkersPause => "workers.pause",
            ActionType::Dispatch => "job.dispatch",
            ActionType::Retry => "job.retry",
            ActionType::Cancel => "job.cancel",
            ActionType::ClearFailed => "jobs.clear_failed",
            ActionType::ResetProcessing => "jobs.reset_processing",
            ActionType::ConfigSet => "config.set",
            ActionType::OperatorAdd => "operator.add",
            ActionType::OperatorRemove => "operator.remove",
            ActionType::TokenCreate => "token.create",
            ActionType::TokenRevoke => "token.revoke",
            ActionType::WalletImport => "wallet.import",
        }
    }
}

/// Who acted: an operator identity, or the database owner (operator management).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Identity(&'a Identity),
    DatabaseOwner(&'a str),
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

/// Writes the audit row for an action (in the caller's transaction) and
/// announces it on [`ADMIN_CHANNEL`] (delivered at commit).
pub async fn record(
    conn: &mut PgConnection,
    actor: Actor<'_>,
    action: ActionType,
    target: &Target,
    details: Value,
) -> Result<Uuid, AdminError> {
    let (user_id, who) = match actor {
        Actor::Identity(identity) => (identity.user_id, identity.audit_details()),
        Actor::DatabaseOwner(db_user) => {
            (None, json!({"via": "database-owner", "db_user": db_user}))
        }
    };
    let mut details = match details {
        Value::Object(map) => map,
        other => serde_json::Map::from_iter([("value".to_string(), other)]),
    };
    details.insert("actor".into(), who);
    let (id, created_at): (Uuid, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO admin_actions (admin_user_id, action_type, target_id, target_type, details)
         VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at",
    )
    .bind(user_id)
    .bind(action.as_str())
    .bind(target.id.as_deref())
    .bind(target.kind)
    .bind(Value::Object(details))
    .fetch_one(&mut *conn)
    .await?;
    let note = json!({
        "id": id,
        "action_type": action.as_str(),
        "target_type": target.kind,
        "target_id": target.id,
        "created_at": created_at,
    });
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(ADMIN_CHANNEL)
        .bind(note.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// One row of the audit trail, with the acting user's email when known.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: Uuid,
    pub created_at: Option<DateTime<Utc>>,
    pub admin_user_id: Option<Uuid>,
    pub admin_email: Option<String>,
    pub action_type: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: Option<Value>,
}

/// The newest audit rows (at most `limit`), optionally only those since a time.
pub async fn list(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AdminError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.created_at, a.admin_user_id, u.email AS admin_email,
                a.action_type, a.target_type, a.target_id, a.details
           FROM admin_actions a LEFT JOIN auth.users u ON u.id = a.admin_user_id
          WHERE $1::timestamptz IS NULL OR a.created_at >= $1
          ORDER BY a.created_at DESC, a.id
          LIMIT $2",
    )
    .bind(since)
    .bind(limit.clamp(1, 10_000))
    .fetch_all(pool)
    .await?)
}
