//! Users, wallets and their keys in the database. Private keys are sealed
//! with the master key ([`custody`]) before they are written, and opened
//! only to sign; `tron` stays free of the database.
//!
//! This module is the only one with SQL on `user_wallets` ([`lookup`], the
//! processing flag in [`processing`], balances in [`state`], keys here),
//! `auth.users` ([`users`]), `wallet_transactions` ([`transactions`]) and
//! the chain follower's tables ([`deposits`]);
//! everyone else asks it.

pub mod custody;
pub mod deposits;
pub mod lookup;
pub mod processing;
pub mod schedule;
pub mod state;
pub mod transactions;
pub mod users;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::text_enum;
use crate::tron::{Address, PrivateKey};
pub use custody::{CustodyError, MasterKey, SealedKey};
pub use lookup::{WalletInfo, WalletRef};

/// What a wallet is for (`user_wallets.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletRole {
    /// A user's deposit address, swept by consolidation.
    Deposit,
    /// Pays TRX for gas top-ups.
    Gas,
    /// Receives the swept USDT.
    Treasury,
    /// Stakes TRX for energy and lends it to deposit wallets for their sweeps.
    Energy,
}

text_enum!(WalletRole, "wallet role", {
    Deposit => "deposit",
    Gas => "gas",
    Treasury => "treasury",
    Energy => "energy",
});

/// Whether a stored key may sign at once (`user_wallets.active`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Usable at once: deposit wallets, and the database owner's own
    /// storage (a deployment's first gas and treasury wallets).
    Active,
    /// Stored, but inactive until its activation proposal (migration 0010)
    /// is approved by a second admin and its delay has passed.
    AwaitingApproval,
}

impl Activation {
    fn is_active(self) -> bool {
        self == Activation::Active
    }
}

/// What can go wrong with wallets.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// Not something that looks like an email address.
    #[error("invalid user email {0:?}")]
    InvalidEmail(String),
    /// This address already has a stored key: importing again changes nothing.
    #[error("wallet {address} is already imported (id {wallet_id}); nothing changed")]
    AlreadyImported { address: Address, wallet_id: Uuid },
    /// The address exists as a wallet of another user.
    #[error("wallet {address} belongs to another user; nothing changed")]
    OtherUser { address: Address },
    /// The address exists as a wallet with another role.
    #[error("wallet {address} exists with role {existing}, not {requested}; nothing changed")]
    OtherRole {
        address: Address,
        existing: WalletRole,
        requested: WalletRole,
    },
    /// No such wallet, or it has no stored key.
    #[error("wallet {0} not found or has no stored key")]
    NoKey(Uuid),
    /// The stored key does not belong to the wallet's address.
    #[error("the stored key of wallet {wallet_id} does not match its address {address}")]
    KeyMismatch { wallet_id: Uuid, address: String },
    #[error(transparent)]
    Custody(#[from] CustodyError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A wallet whose key was just stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedWallet {
    pub wallet_id: Uuid,
    pub user_id: Uuid,
    pub address: Address,
    pub role: WalletRole,
    pub created_user: bool,
}

fn check_email(email: &str) -> Result<&str, WalletError> {
    let e = email.trim();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if ok {
        Ok(e)
    } else {
        Err(WalletError::InvalidEmail(email.to_string()))
    }
}

/// Stores `key` sealed under `master` as a wallet of the user `email`
/// (created if new). A second import of the same address is refused and
/// changes nothing; an existing keyless row of the same user and role (a
/// wallet the original app tracked) gets its key. The master key is first
/// checked against a key already stored, so that keys never end up sealed
/// under two different master keys.
///
/// This is the database owner's storage, usable at once; operators import
/// through `admin::wallets::import`, which holds gas and treasury keys for a
/// second admin's approval.
pub async fn import(
    pool: &PgPool,
    master: &MasterKey,
    email: &str,
    role: WalletRole,
    key: &PrivateKey,
) -> Result<ImportedWallet, WalletError> {
    let mut tx = pool.begin().await?;
    let wallet = import_in(&mut tx, master, email, role, key, Activation::Active).await?;
    tx.commit().await?;
    Ok(wallet)
}

/// Inserts keyless deposit wallets at `addresses` in one statement, as the
/// database owner (benchmarks fill a database with wallets that are only
/// watched, never swept). Returns how many rows were inserted.
pub async fn insert_watched(pool: &PgPool, addresses: &[String]) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query!(
        "INSERT INTO user_wallets (address, role) SELECT unnest($1::text[]), 'deposit'",
        addresses
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted)
}

/// [`import`] inside the caller's transaction, which it does not commit: so
/// that the caller's own writes (the audit row) commit or vanish with it.
/// The wallet is stored active or not as `activation` says.
pub async fn import_in(
    tx: &mut PgConnection,
    master: &MasterKey,
    email: &str,
    role: WalletRole,
    key: &PrivateKey,
    activation: Activation,
) -> Result<ImportedWallet, WalletError> {
    let email = check_email(email)?;
    let address = key.address();
    check_master_key(&mut *tx, master).await?;

    let (user_id, created_user) = users::find_or_create(&mut *tx, email).await?;

    let row = sqlx::query!(
        r#"SELECT id, user_id, role AS "role: WalletRole", encrypted_key IS NOT NULL AS "keyed!"
             FROM user_wallets WHERE address = $1 FOR UPDATE"#,
        address.to_base58()
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.id, r.user_id, r.role, r.keyed));
    let wallet_id = match row {
        Some((wallet_id, _, _, true)) => {
            return Err(WalletError::AlreadyImported { address, wallet_id });
        }
        Some((_, owner, _, false)) if owner.is_some_and(|o| o != user_id) => {
            return Err(WalletError::OtherUser { address });
        }
        Some((_, _, existing, false)) if existing != role => {
            return Err(WalletError::OtherRole {
                address,
                existing,
                requested: role,
            });
        }
        Some((wallet_id, _, _, false)) => {
            let sealed = master.seal(wallet_id, key);
            sqlx::query!(
                "UPDATE user_wallets SET user_id = $2, encrypted_key = $3, key_nonce = $4, active = $5
                  WHERE id = $1",
                wallet_id,
                user_id,
                &sealed.ciphertext,
                &sealed.nonce,
                activation.is_active()
            )
            .execute(&mut *tx)
            .await?;
            wallet_id
        }
        None => {
            // The id is chosen here because it is the associated data of the seal.
            let wallet_id = Uuid::new_v4();
            let sealed = master.seal(wallet_id, key);
            let inserted = sqlx::query!(
                "INSERT INTO user_wallets (id, user_id, address, role, encrypted_key, key_nonce, active)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (address) DO NOTHING",
                wallet_id,
                user_id,
                address.to_base58(),
                role.as_str(),
                &sealed.ciphertext,
                &sealed.nonce,
                activation.is_active()
            )
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                // Another import of the same address committed first.
                let wallet_id = sqlx::query_scalar!(
                    "SELECT id FROM user_wallets WHERE address = $1",
                    address.to_base58()
                )
                .fetch_one(&mut *tx)
                .await?;
                return Err(WalletError::AlreadyImported { address, wallet_id });
            }
            wallet_id
        }
    };
    Ok(ImportedWallet {
        wallet_id,
        user_id,
        address,
        role,
        created_user,
    })
}

/// Opens one stored key, if any, to prove `master` is the key they were
/// sealed with.
async fn check_master_key(conn: &mut PgConnection, master: &MasterKey) -> Result<(), WalletError> {
    // The key check (migration 0001) makes the nonce present with the key.
    let sample = sqlx::query!(
        r#"SELECT id, encrypted_key AS "ciphertext!", key_nonce AS "nonce!" FROM user_wallets
            WHERE encrypted_key IS NOT NULL ORDER BY created_at LIMIT 1"#
    )
    .fetch_optional(conn)
    .await?;
    if let Some(r) = sample {
        master.open(
            r.id,
            &SealedKey {
                ciphertext: r.ciphertext,
                nonce: r.nonce,
            },
        )?;
    }
    Ok(())
}

/// The private key of a wallet, to sign with and drop (it is zeroized on
/// drop). Checks that the key belongs to the wallet's address.
pub async fn signing_key(
    pool: &PgPool,
    master: &MasterKey,
    wallet_id: Uuid,
) -> Result<PrivateKey, WalletError> {
    let (address, sealed) = stored_key(pool, wallet_id).await?;
    let key = master.open(wallet_id, &sealed)?;
    if key.address().to_base58() != address {
        return Err(WalletError::KeyMismatch { wallet_id, address });
    }
    Ok(key)
}

/// A wallet's address as its row states it and its sealed key, unopened:
/// what the signer needs to open and check it itself.
pub async fn stored_key(
    pool: &PgPool,
    wallet_id: Uuid,
) -> Result<(String, SealedKey), WalletError> {
    let row = sqlx::query!(
        "SELECT address, encrypted_key, key_nonce FROM user_wallets WHERE id = $1",
        wallet_id
    )
    .fetch_optional(pool)
    .await?;
    match row.map(|r| (r.address, r.encrypted_key, r.key_nonce)) {
        Some((address, Some(ciphertext), Some(nonce))) => {
            Ok((address, SealedKey { ciphertext, nonce }))
        }
        _ => Err(WalletError::NoKey(wallet_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::WalletRole;

    #[test]
    fn wallet_roles_read_as_they_print() {
        for role in WalletRole::ALL.iter().copied() {
            assert_eq!(role.as_str().parse::<WalletRole>(), Ok(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::from(role.as_str())
            );
        }
        assert!("cold".parse::<WalletRole>().is_err());
        assert_eq!(format!("{:>8}", WalletRole::Gas), "     gas");
    }
}
