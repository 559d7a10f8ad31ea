//! API tokens: 32 random bytes, shown once at creation, stored only as their
//! SHA-256 hash with a role and an optional expiry. Created and revoked only
//! through the database's functions, which check the caller themselves; the
//! database's trigger audits both.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::identity::hash_token;
use super::{AdminError, Identity, Permission, Role};
use crate::config::Secret;

/// Every token starts with this, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "wo_";

/// A token just created: the only time its text exists outside the caller.
#[derive(Debug)]
pub struct CreatedToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
    pub token: Secret,
}

/// A stored token, without its hash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TokenEntry {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub created_by_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token (admin only).
pub async fn create(
    pool: &PgPool,
    identity: &Identity,
    role: Role,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<CreatedToken, AdminError> {
    identity.authorize(Permission::ManageTokens)?;
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(
            AdminError::Invalid("a token name is 1 to 100 printable characters".into())
                .refused(identity),
        );
    }
    if expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(AdminError::Invalid("the expiry is in the past".into()).refused(identity));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AdminError::Corrupt(format!("no randomness from the system: {e}")))?;
    let token = Secret::new(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)));
    let hash = hash_token(token.expose());

    // The database checks the caller again and records who created it.
    let id: Uuid = sqlx::query_scalar("SELECT walletops_token_create($1, $2, $3, $4, $5)")
        .bind(name)
        .bind(role.as_str())
        .bind(&hash[..])
        .bind(expires_at)
        .bind(identity.token())
        .fetch_one(pool)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    Ok(CreatedToken {
        id,
        name: name.to_string(),
        role,
        expires_at,
        token,
    })
}

/// Every token, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<TokenEntry>, AdminError> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.name, t.role, u.email AS created_by_email, t.created_at,
                t.expires_at, t.last_used_at, t.revoked_at
           FROM api_tokens t LEFT JOIN auth.users u ON u.id = t.created_by
          ORDER BY t.created_at DESC",
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes a token named by id or by name (admin only).
pub async fn revoke(
    pool: &PgPool,
    identity: &Identity,
    id_or_name: &str,
) -> Result<TokenEntry, AdminError> {
    identity.authorize(Permission::ManageTokens)?;
    let id = id_or_name.parse::<Uuid>().ok();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM api_tokens
          WHERE revoked_at IS NULL AND (id = $1 OR ($1 IS NULL AND name = $2))",
    )
    .bind(id)
    .bind(id_or_name)
    .fetch_all(pool)
    .await?;
    let id = match ids[..] {
        [id] => id,
        [] => {
            return Err(
                AdminError::NotFound(format!("no live token {id_or_name:?}")).refused(identity),
            );
        }
        _ => {
            return Err(AdminError::Conflict(format!(
                "{} live tokens are named {id_or_name:?}: revoke by id",
                ids.len()
            ))
            .refused(identity));
        }
    };
    let revoked: bool = sqlx::query_scalar("SELECT walletops_token_revoke($1, $2)")
        .bind(id)
        .bind(identity.token())
        .fetch_one(pool)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    if !revoked {
        return Err(AdminError::Conflict(format!(
            "token {id} was revoked meanwhile"
        )));
    }
    let entry = sqlx::query_as(
        "SELECT t.id, t.name, t.role, u.email AS created_by_email, t.created_at,
                t.expires_at, t.last_used_at, t.revoked_at
           FROM api_tokens t LEFT JOIN auth.users u ON u.id = t.created_by WHERE t.id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(entry)
}
