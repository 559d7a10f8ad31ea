//! Finding the wallet an operator means, and the wallets' processing flags.
//!
//! TO MOVE: wallets belong to the `wallets` module, which does not exist on
//! this branch yet; these queries move there when it lands.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::AdminError;
use crate::tron::Address;
use crate::wallets::WalletRole;

/// How an operator names a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletRef {
    Id(Uuid),
    Address(Address),
    /// The owner's email (`auth.users.email`) or name
    /// (`raw_user_meta_data` `name` or `full_name`), case-insensitive.
    User(String),
}

impl std::fmt::Display for WalletRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalletRef::Id(id) => write!(f, "wallet {id}"),
            WalletRef::Address(a) => write!(f, "wallet {a}"),
            WalletRef::User(u) => write!(f, "the wallet of {u:?}"),
        }
    }
}

/// The wallet a job is dispatched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WalletInfo {
    pub id: Uuid,
    pub address: String,
    pub user_id: Option<Uuid>,
    pub role: WalletRole,
}

/// The one wallet `wallet_ref` names. A user with several wallets must be
/// told apart by address.
pub async fn find(
    conn: &mut PgConnection,
    wallet_ref: &WalletRef,
) -> Result<WalletInfo, AdminError> {
    let found: Vec<WalletInfo> = match wallet_ref {
        WalletRef::Id(id) => {
            sqlx::query_as("SELECT id, address, user_id, role FROM user_wallets WHERE id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
        }
        WalletRef::Address(address) => {
            sqlx::query_as("SELECT id, address, user_id, role FROM user_wallets WHERE address = $1")
                .bind(address.to_string())
                .fetch_all(&mut *conn)
                .await?
        }
        WalletRef::User(who) => {
            sqlx::query_as(
                "SELECT w.id, w.address, w.user_id, w.role
                   FROM user_wallets w JOIN auth.users u ON u.id = w.user_id
                  WHERE lower(u.email) = lower($1)
                     OR lower(u.raw_user_meta_data ->> 'name') = lower($1)
                     OR lower(u.raw_user_meta_data ->> 'full_name') = lower($1)
                  ORDER BY w.created_at LIMIT 10",
            )
            .bind(who.trim())
            .fetch_all(&mut *conn)
            .await?
        }
    };
    match &found[..] {
        [one] => Ok(one.clone()),
        [] => Err(AdminError::NotFound(format!("{wallet_ref} not found"))),
        many => Err(AdminError::Conflict(format!(
            "{wallet_ref} is ambiguous ({} wallets: {}); name one by address",
            many.len(),
            many.iter()
                .map(|w| w.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Clears the processing flag of every wallet whose processing job is not
/// live (missing, finished, or past its lease); returns their addresses.
pub async fn release_orphaned_processing(
    conn: &mut PgConnection,
) -> Result<Vec<String>, AdminError> {
    Ok(sqlx::query_scalar(
        "UPDATE user_wallets w
            SET is_processing = false, processing_job_id = NULL, processing_since = NULL,
                updated_at = now()
          WHERE w.is_processing
            AND NOT EXISTS (SELECT 1 FROM job_logs j
                             WHERE j.id = w.processing_job_id
                               AND j.status = 'processing'
                               AND j.locked_until > now())
          RETURNING w.address",
    )
    .fetch_all(&mut *conn)
    .await?)
}
