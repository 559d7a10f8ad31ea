//! Key custody as an audited action. Importing a key needs the database
//! owner's rights rather than an operator identity (only the owner may write
//! the sealed-key columns), as managing operators does.

use sqlx::PgPool;

use super::AdminError;
use super::operators::require_owner;
use crate::tron::PrivateKey;
use crate::wallets::{self, ImportedWallet, MasterKey, WalletError, WalletRole};

/// [`wallets::import`] as the database owner. The database's trigger audits
/// it in the same transaction: the wallet, its address and role; never the key.
pub async fn import(
    pool: &PgPool,
    master: &MasterKey,
    email: &str,
    role: WalletRole,
    key: &PrivateKey,
) -> Result<ImportedWallet, AdminError> {
    let mut tx = pool.begin().await?;
    require_owner(&mut tx, "importing wallet keys").await?;
    // Through walletops: the trigger's audit row is not an external change.
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await?;
    let wallet = wallets::import_in(&mut tx, master, email, role, key)
        .await
        .map_err(refusal)?;
    tx.commit().await?;
    Ok(wallet)
}

/// The import's refusal in admin's terms, its message unchanged.
fn refusal(e: WalletError) -> AdminError {
    match e {
        WalletError::Db(e) => AdminError::from(e),
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
