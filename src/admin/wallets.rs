//! Key custody as an audited action. Importing a key needs the database
//! owner's rights rather than an operator identity (only the owner may write
//! the sealed-key columns), as managing operators does.

use serde_json::json;
use sqlx::PgPool;

use super::AdminError;
use super::audit::{self, ActionType, Actor, Target};
use super::operators::require_owner;
use crate::tron::PrivateKey;
use crate::wallets::{self, ImportedWallet, MasterKey, WalletError, WalletRole};

/// [`wallets::import`], audited in the same transaction. The audit row names
/// the wallet, its address and role; never the key.
pub async fn import(
    pool: &PgPool,
    master: &MasterKey,
    email: &str,
    role: WalletRole,
    key: &PrivateKey,
) -> Result<ImportedWallet, AdminError> {
    let mut tx = pool.begin().await?;
    let db_user = require_owner(&mut tx, "importing wallet keys").await?;
    let wallet = wallets::import_in(&mut tx, master, email, role, key)
        .await
        .map_err(refusal)?;
    audit::record(
        &mut tx,
        Actor::DatabaseOwner(&db_user),
        ActionType::WalletImport,
        &Target::new("wallet", wallet.wallet_id),
        json!({
            "address": wallet.address.to_string(),
            "role": wallet.role.as_str(),
            "user_id": wallet.user_id,
            "created_user": wallet.created_user,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(wallet)
}

/// The import's refusal in admin's terms, its message unchanged.
fn refusal(e: WalletError) -> AdminError {
    match e {
        WalletError::Db(e) => AdminError::Db(e),
        e @ (WalletError::InvalidEmail(_) | WalletError::Custody(_)) => {
            AdminError::Invalid(e.to_string())
        }
        e @ (WalletError::AlreadyImported { .. }
        | WalletError::OtherUser { .. }
        | WalletError::OtherRole { .. }) => AdminError::Conflict(e.to_string()),
        e @ (WalletError::NoKey(_) | WalletError::KeyMismatch { .. }) => {
            AdminError::Corrupt(e.to_string())
        }
    }
}
