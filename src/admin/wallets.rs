//! Key custody as an audited action. Importing a key needs the database
//! owner's rights rather than an operator identity (only the owner may write
//! the sealed-key columns), as managing operators does.
//!
//! A gas or treasury key moves money, so it follows the two-person rule of
//! [`super::proposals`]: it is sealed and stored at once (whoever imports it
//! handles the key once), but the wallet stays inactive until a different
//! admin approves its activation proposal (`wallet:ADDRESS`) and
//! `policy.change_delay_seconds` have passed (migration 0010).

use sqlx::PgPool;
use uuid::Uuid;

use super::AdminError;
use super::operators::owner_tx;
use super::proposals::{self, Proposal};
use crate::tron::PrivateKey;
use crate::wallets::{self, Activation, ImportedWallet, MasterKey, WalletError, WalletRole};

/// A key stored by an operator's import, and what it waits for.
#[derive(Debug, Clone)]
pub struct KeyImport {
    pub wallet: ImportedWallet,
    /// The activation proposal of a gas or treasury key: the wallet is
    /// inactive until it is applied. `None` for a deposit wallet.
    pub activation: Option<Proposal>,
}

/// [`wallets::import`] as the database owner. The database's trigger audits
/// it in the same transaction: the wallet, its address, role and whether it
/// is active; never the key. A gas, treasury or energy wallet (its key
/// controls staked TRX) is stored inactive,
/// with its activation proposal (proposed by the admin linked to the
/// owner's login, or by the owner alone: then any admin approves it).
pub async fn import(
    pool: &PgPool,
    master: &MasterKey,
    email: &str,
    role: WalletRole,
    key: &PrivateKey,
) -> Result<KeyImport, AdminError> {
    let held = role != WalletRole::Deposit;
    let mut tx = owner_tx(pool, "importing wallet keys").await?;
    let activation = if held {
        Activation::AwaitingApproval
    } else {
        Activation::Active
    };
    let wallet = wallets::import_in(&mut tx, master, email, role, key, activation)
        .await
        .map_err(refusal)?;
    let proposal: Option<Uuid> = if held {
        Some(
            sqlx::query_scalar("SELECT id FROM walletops_wallet_activation_propose($1)")
                .bind(wallet.wallet_id)
                .fetch_one(&mut *tx)
                .await?,
        )
    } else {
        None
    };
    tx.commit().await?;
    let activation = match proposal {
        Some(id) => {
            tracing::info!(address = %wallet.address, %role, %id, "key stored; activation proposed");
            Some(proposals::get(pool, id).await?)
        }
        None => None,
    };
    Ok(KeyImport { wallet, activation })
}

/// A new deployment's first gas or treasury wallet, active at once, as the
/// database owner (as [`proposals::bootstrap`] sets the first payout
/// addresses): the demo's setup. Refused once an active wallet of that role
/// with a key exists: later ones are imported with [`import`] and approved.
pub async fn bootstrap(
    pool: &PgPool,
    master: &MasterKey,
    email: &str,
    role: WalletRole,
    key: &PrivateKey,
) -> Result<ImportedWallet, AdminError> {
    if role == WalletRole::Deposit {
        return Err(AdminError::Invalid(
            "a deposit wallet is usable at once: import it with `walletops wallet import`".into(),
        ));
    }
    let mut tx = owner_tx(pool, "importing wallet keys").await?;
    // Two bootstraps at once would both find none.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtext('walletops.wallet-bootstrap:' || $1))",
        role.as_str()
    )
    .execute(&mut *tx)
    .await?;
    if wallets::lookup::active_key_exists(&mut tx, role).await? {
        return Err(AdminError::Conflict(format!(
            "an active {role} wallet exists already: a new {role} key is imported with \
             `walletops wallet import --role {role}` and activated by a second admin"
        )));
    }
    let wallet = wallets::import_in(&mut tx, master, email, role, key, Activation::Active)
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
