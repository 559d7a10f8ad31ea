//! Who is acting: the database login an operator is linked to (console,
//! CLI), or an API token (HTTP). Never a claimed name: the login is the
//! session's authenticated user, and a token is verified by the database's
//! own functions each time it is used. Resolution happens once at the edge
//! for clear refusals; every change is checked again by the database, which
//! finds the actor itself (migration 0007).

use std::fmt;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::AdminError;
use super::role::{Permission, Role};
use crate::config::Secret;

/// Where an identity came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The session's database login, linked to an operator.
    Login { login: String, email: String },
    /// An API token (its id and name). The token itself is kept so that the
    /// database can verify it again for each change; it is never printed.
    Token {
        id: Uuid,
        name: String,
        token: Secret,
    },
}

/// A resolved, non-revoked identity with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user the audit trail names (`admin_actions.admin_user_id`); a
    /// token names the user who created it, if any.
    pub user_id: Option<Uuid>,
    pub role: Role,
    pub source: Source,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Login { email, login } => {
                write!(f, "operator {email} (login {login}, {})", self.role)
            }
            Source::Token { name, .. } => write!(f, "token {name:?} ({})", self.role),
        }
    }
}

impl Identity {
    /// Passes when the role allows `permission`; otherwise logs the refusal
    /// (refusals go to the log, never to the audit table) and refuses.
    pub fn authorize(&self, permission: Permission) -> Result<(), AdminError> {
        if self.role.allows(permission) {
            return Ok(());
        }
        tracing::warn!(identity = %self, action = permission.describe(), "refused: no right");
        Err(AdminError::Forbidden {
            who: self.to_string(),
            action: permission.describe(),
        })
    }

    /// The token the database must verify for a change (None: the session's
    /// login acts).
    pub fn token(&self) -> Option<&str> {
        match &self.source {
            Source::Token { token, .. } => Some(token.expose()),
            Source::Login { .. } => None,
        }
    }

    /// The operator's email, for a login identity.
    pub fn email(&self) -> Option<&str> {
        match &self.source {
            Source::Login { email, .. } => Some(email),
            Source::Token { .. } => None,
        }
    }
}

/// The operator linked to the session's database login (`session_user`),
/// if it holds a live role.
pub async fn resolve_login(pool: &PgPool) -> Result<Identity, AdminError> {
    // The operator is what is resolved; auth.users only names it.
    let row = sqlx::query!(
        r#"SELECT session_user::text AS "login!", o.user_id AS "user_id?",
                  o.role AS "role?: Role", u.email AS "email?"
             FROM (SELECT 1) one
             LEFT JOIN operators o ON o.db_login = session_user::text AND o.revoked_at IS NULL
             LEFT JOIN auth.users u ON u.id = o.user_id"#
    )
    .fetch_one(pool)
    .await
        .map_err(|e| match AdminError::from(e) {
            // A login in no walletops group may not even read the operators.
            AdminError::Denied(_) => AdminError::UnknownIdentity(
                "this database login has no walletops rights (not an operator, or removed); \
                 the database owner links it with `walletops operators add EMAIL --role ROLE --login LOGIN`"
                    .into(),
            ),
            other => other,
        })?;
    let (login, email) = (row.login, row.email);
    let (Some(user_id), Some(role)) = (row.user_id, row.role) else {
        tracing::warn!(login, "refused: the database login is not an operator");
        return Err(AdminError::UnknownIdentity(format!(
            "database login {login} is not an operator (or was removed); the database owner \
             links it with `walletops operators add EMAIL --role ROLE --login {login}`"
        )));
    };
    Ok(Identity {
        user_id: Some(user_id),
        role,
        source: Source::Login {
            login,
            email: email.unwrap_or_default(),
        },
    })
}

/// Refuses when `claimed` (the old `--operator` / `WALLETOPS_OPERATOR`)
/// names anyone but the login's own operator: it may only assert, never pick.
pub fn check_claim(identity: &Identity, claimed: Option<&str>) -> Result<(), AdminError> {
    let Some(claimed) = claimed.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    match &identity.source {
        Source::Login { email, .. } if email.eq_ignore_ascii_case(claimed) => Ok(()),
        _ => {
            tracing::warn!(identity = %identity, claimed, "refused: claimed operator does not match the login");
            Err(AdminError::UnknownIdentity(format!(
                "--operator/WALLETOPS_OPERATOR says {claimed}, but this connection is {identity}: \
                 the database login decides who acts; connect with {claimed}'s own login or unset it"
            )))
        }
    }
}

/// The token's identity, if the token exists, is not revoked and has not
/// expired (checked by the database, which also notes its use).
pub async fn resolve_token(pool: &PgPool, token: &Secret) -> Result<Identity, AdminError> {
    let row = sqlx::query!(
        r#"SELECT id AS "id!", name AS "name!", role AS "role!: Role", created_by
             FROM walletops_token_identity($1)"#,
        token.expose()
    )
    .fetch_optional(pool)
    .await?
    .map(|r| (r.id, r.name, r.role, r.created_by));
    let Some((id, name, role, created_by)) = row else {
        tracing::warn!("refused: unknown, revoked or expired API token");
        return Err(AdminError::UnknownIdentity(
            "unknown, revoked or expired token".into(),
        ));
    };
    Ok(Identity {
        user_id: created_by,
        role,
        source: Source::Token {
            id,
            name,
            token: token.clone(),
        },
    })
}

/// SHA-256 of the token text: all that is stored.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
