//! Who may act: operators are users with a role and a database login of
//! their own (the login proves who acts). Managing them needs the database
//! owner's rights rather than an operator identity, which is how the first
//! admin is made. Adding creates (or links) the login and makes it a member
//! of its role's group; removing revokes the role and the membership. Users
//! are never deleted, since the audit trail names them. The database's
//! trigger audits every change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{AdminError, Role};

/// What a refusal says needs the owner's rights.
const MANAGE: &str = "managing operators";

/// One operator, revoked or not.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OperatorEntry {
    pub user_id: Uuid,
    pub email: Option<String>,
    pub role: Role,
    /// The database login that acts as this operator.
    pub db_login: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The PostgreSQL group role whose rights `role` gets in the database.
pub fn group_of(role: Role) -> &'static str {
    match role {
        Role::Admin => "walletops_admin",
        Role::Operator => "walletops_operator",
        Role::Viewer => "walletops_viewer",
    }
}

/// The login an operator gets when none is named: the email, lowercased.
pub fn default_login(email: &str) -> String {
    email.trim().to_lowercase()
}

fn check_login(login: &str) -> Result<&str, AdminError> {
    let ok = !login.is_empty()
        && login.len() <= 63
        && !login
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if ok {
        Ok(login)
    } else {
        Err(AdminError::Invalid(format!(
            "{login:?} is not a usable database login: 1 to 63 bytes, no spaces or quotes"
        )))
    }
}

/// A transaction as the database owner acting through walletops (its
/// writes are audited as walletops', not as external changes), if the
/// connected user owns the walletops tables (or is a superuser); otherwise
/// the refusal of `action`.
pub(super) async fn owner_tx(
    pool: &PgPool,
    action: &'static str,
) -> Result<Transaction<'static, Postgres>, AdminError> {
    let mut tx = pool.begin().await?;
    let (db_user, owner): (String, bool) = sqlx::query_as(
        "SELECT current_user::text,
                pg_has_role(current_user, c.relowner, 'USAGE')
           FROM pg_class c WHERE c.oid = 'operators'::regclass",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !owner {
        tracing::warn!(db_user, action, "refused: needs the database owner");
        return Err(AdminError::NotOwner { action, db_user });
    }
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
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

/// Gives `email` the role (creating the user if new, restoring a revoked
/// operator) and links it to the database login `login` (default: the email,
/// lowercased), created if missing (LOGIN without a password: the site's
/// pg_hba.conf says how it authenticates) and made a member of the role's
/// group only.
pub async fn add(
    pool: &PgPool,
    email: &str,
    role: Role,
    login: Option<&str>,
) -> Result<OperatorEntry, AdminError> {
    let email = check_email(email)?;
    let login = match login {
        Some(l) => check_login(l.trim())?.to_string(),
        None => check_login(&default_login(email))?.to_string(),
    };
    let mut tx = owner_tx(pool, MANAGE).await?;
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
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT u.email FROM operators o JOIN auth.users u ON u.id = o.user_id
          WHERE o.db_login = $1 AND o.user_id <> $2",
    )
    .bind(&login)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = taken {
        return Err(AdminError::Conflict(format!(
            "database login {login} already acts as {other}; one login per person"
        )));
    }
    let previous_login: Option<Option<String>> =
        sqlx::query_scalar("SELECT db_login FROM operators WHERE user_id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO operators (user_id, role, db_login) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
            SET role = EXCLUDED.role, db_login = EXCLUDED.db_login, revoked_at = NULL,
                updated_at = now()",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(&login)
    .execute(&mut *tx)
    .await?;
    if let Some(Some(old)) = previous_login.filter(|l| l.as_deref() != Some(login.as_str())) {
        sqlx::query("SELECT walletops_unlink_login($1)")
            .bind(old)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("SELECT walletops_link_login($1, $2)")
        .bind(&login)
        .bind(group_of(role))
        .execute(&mut *tx)
        .await?;
    let entry = fetch(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Revokes `email`'s role and its login's group membership. The user and
/// the login stay (the audit trail names them).
/// What `remove` did: the operator as it now stands, and how many of the
/// API tokens it had made were revoked with it.
#[derive(Debug, Clone)]
pub struct Removal {
    pub operator: OperatorEntry,
    pub tokens_revoked: u64,
}

/// Revokes an operator's role, its login's group membership and every API
/// token it made (owner's rights). The tokens go for good: were the person
/// added again later, their old tokens would otherwise come back to life.
pub async fn remove(pool: &PgPool, email: &str) -> Result<Removal, AdminError> {
    let email = check_email(email)?;
    let mut tx = owner_tx(pool, MANAGE).await?;
    let revoked: Option<(Uuid, Option<String>)> = sqlx::query_as(
        "UPDATE operators o SET revoked_at = now(), updated_at = now()
           FROM auth.users u
          WHERE o.user_id = u.id AND lower(u.email) = lower($1) AND o.revoked_at IS NULL
          RETURNING o.user_id, o.db_login",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, login)) = revoked else {
        return Err(AdminError::NotFound(format!("{email} is not an operator")));
    };
    sqlx::query("SELECT walletops_unlink_login($1)")
        .bind(login)
        .execute(&mut *tx)
        .await?;
    let tokens_revoked = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE created_by = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let operator = fetch(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(Removal {
        operator,
        tokens_revoked,
    })
}

/// Every operator, current and revoked.
pub async fn list(pool: &PgPool) -> Result<Vec<OperatorEntry>, AdminError> {
    Ok(sqlx::query_as(
        "SELECT o.user_id, u.email, o.role, o.db_login, o.created_at, o.revoked_at
           FROM operators o JOIN auth.users u ON u.id = o.user_id
          ORDER BY o.revoked_at NULLS FIRST, u.email",
    )
    .fetch_all(pool)
    .await?)
}

async fn fetch(conn: &mut PgConnection, user_id: Uuid) -> Result<OperatorEntry, AdminError> {
    Ok(sqlx::query_as(
        "SELECT o.user_id, u.email, o.role, o.db_login, o.created_at, o.revoked_at
           FROM operators o JOIN auth.users u ON u.id = o.user_id WHERE o.user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?)
}
