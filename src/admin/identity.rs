//! Who is acting: an operator named by email (console, CLI) or an API token
//! (HTTP). Resolution happens once at the edge; every action then checks the
//! identity's role through [`Identity::authorize`].

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
    /// `--operator` / `WALLETOPS_OPERATOR`.
    Operator { email: String },
    /// An API token (its id and name; never the token itself).
    Token { id: Uuid, name: String },
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
            Source::Operator { email } => write!(f, "operator {email} ({})", self.role),
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

    /// What the audit row's details say about the actor.
    pub fn audit_details(&self) -> serde_json::Value {
        match &self.source {
            Source::Operator { email } => {
                serde_json::json!({"via": "operator", "operator": email, "role": self.role})
            }
            Source::Token { id, name } => {
                serde_json::json!({"via": "token", "token_id": id, "token_name": name, "role": self.role})
            }
        }
    }
}

/// The operator with this email, if it holds a role that is not revoked.
pub async fn resolve_operator(pool: &PgPool, email: &str) -> Result<Identity, AdminError> {
    let email = email.trim();
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT u.id, o.role FROM auth.users u JOIN operators o ON o.user_id = u.id
          WHERE lower(u.email) = lower($1) AND o.revoked_at IS NULL",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    let Some((user_id, role)) = row else {
        tracing::warn!(operator = email, "refused: not an operator");
        return Err(AdminError::UnknownIdentity(format!(
            "{email} is not an operator (or was removed); an admin adds it with `walletops operators add`"
        )));
    };
    Ok(Identity {
        user_id: Some(user_id),
        role: parse_role(&role)?,
        source: Source::Operator {
            email: email.to_string(),
        },
    })
}

/// The token's identity, if the token exists, is not revoked and has not expired.
pub async fn resolve_token(pool: &PgPool, token: &Secret) -> Result<Identity, AdminError> {
    let hash = hash_token(token.expose());
    let row: Option<(Uuid, String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT id, name, role, created_by FROM api_tokens
          WHERE token_hash = $1 AND revoked_at IS NULL
            AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(&hash[..])
    .fetch_optional(pool)
    .await?;
    let Some((id, name, role, created_by)) = row else {
        tracing::warn!("refused: unknown, revoked or expired API token");
        return Err(AdminError::UnknownIdentity(
            "unknown, revoked or expired token".into(),
        ));
    };
    // At most one write a minute per token, so that reads stay reads.
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(Identity {
        user_id: created_by,
        role: parse_role(&role)?,
        source: Source::Token { id, name },
    })
}

/// SHA-256 of the token text: all that is stored.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn parse_role(s: &str) -> Result<Role, AdminError> {
    s.parse()
        .map_err(|e: String| AdminError::Corrupt(format!("stored role: {e}")))
}
