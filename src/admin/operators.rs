//! Who may act: operators are users with a role. Managing them needs the
//! database owner's rights rather than an operator identity, which is how the
//! first admin is made. Removing revokes the role; users are never deleted,
//! since the audit trail names them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{self, ActionType, Actor, Target};
use super::{AdminError, Role};

/// What a refusal says needs the owner's rights.
const MANAGE: &str = "managing operators";

/// One operator, revoked or not.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OperatorEntry {
    pub user_id: Uuid,
    pub email: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The connected database user, if it owns the walletops tables (or is a
/// superuser); otherwise the refusal of `action`.
pub(super) async fn require_owner(
    conn: &mut PgConnection,
    action: &'static str,
) -> Result<String, AdminError> {
    let (db_user, owner): (String, bool) = sqlx::query_as(
        "SELECT current_user::text,
                pg_has_role(current_user, c.relowner, 'USAGE')
           FROM pg_class c WHERE c.oid = 'operators'::regclass",
    )
    .fetch_one(&mut *conn)
    .await?;
    if owner {
        Ok(db_user)
    } else {
        tracing::warn!(db_user, action, "refused: needs the database owner");
        Err(AdminError::NotOwner { action, db_user })
    }
}

fn check_email(email: &str) -> Result<&str, AdminError> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && !host.is_empty() && !host.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AdminError::Invalid(format!(
            "{email:?} is not an email address"
        )))
    }
}

/// Gives `email` the role (creating the user if new, restoring a revoked operator).
pub async fn add(pool: &PgPool, email: &str, role: Role) -> Result<OperatorEntry, AdminError> {
    let email = check_email(email)?;
    let mut tx = pool.begin().await?;
    let db_user = require_owner(&mut tx, MANAGE).await?;
    let user_id: Uuid = match sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM auth.users WHERE lower(email) = lower($1) ORDER BY created_at LIMIT 1",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?
    {
        Some(id) => id,
        None => {
            sqlx::query_scalar("INSERT INTO auth.users (email) VALUES ($1) RETURNING id")
                .bind(email)
                .fetch_one(&mut *tx)
                .await?
        }
    };
    let previous: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT role, revoked_at FROM operators WHERE user_id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO operators (user_id, role) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, revoked_at = NULL, updated_at = now()",
    )
    .bind(user_id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Actor::DatabaseOwner(&db_user),
        ActionType::OperatorAdd,
        &Target::new("operator", user_id),
        json!({
            "email": email,
            "role": role,
            "previous_role": previous.as_ref().filter(|p| p.1.is_none()).map(|p| &p.0),
        }),
    )
    .await?;
    let entry = fetch(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Revokes `email`'s role. The user stays.
pub async fn remove(pool: &PgPool, email: &str) -> Result<OperatorEntry, AdminError> {
    let email = check_email(email)?;
    let mut tx = pool.begin().await?;
    let db_user = require_owner(&mut tx, MANAGE).await?;
    let revoked: Option<(Uuid, String)> = sqlx::query_as(
        "UPDATE operators o SET revoked_at = now(), updated_at = now()
           FROM auth.users u
          WHERE o.user_id = u.id AND lower(u.email) = lower($1) AND o.revoked_at IS NULL
          RETURNING o.user_id, o.role",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, role)) = revoked else {
        return Err(AdminError::NotFound(format!("{email} is not an operator")));
    };
    audit::record(
        &mut tx,
        Actor::DatabaseOwner(&db_user),
        ActionType::OperatorRemove,
        &Target::new("operator", user_id),
        json!({"email": email, "role": role}),
    )
    .await?;
    let entry = fetch(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Every operator, current and revoked.
pub async fn list(pool: &PgPool) -> Result<Vec<OperatorEntry>, AdminError> {
    Ok(sqlx::query_as(
        "SELECT o.user_id, u.email, o.role, o.created_at, o.revoked_at
           FROM operators o JOIN auth.users u ON u.id = o.user_id
          ORDER BY o.revoked_at NULLS FIRST, u.email",
    )
    .fetch_all(pool)
    .await?)
}

async fn fetch(conn: &mut PgConnection, user_id: Uuid) -> Result<OperatorEntry, AdminError> {
    Ok(sqlx::query_as(
        "SELECT o.user_id, u.email, o.role, o.created_at, o.revoked_at
           FROM operators o JOIN auth.users u ON u.id = o.user_id WHERE o.user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?)
}
