//! Users, wallets and their keys in the database. Private keys are sealed
//! with the master key ([`custody`]) before they are written, and opened
//! only to sign; `tron` stays free of the database.

pub mod custody;
pub mod schedule;

use std::fmt;
use std::str::FromStr;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::tron::{Address, PrivateKey};
pub use custody::{CustodyError, MasterKey, SealedKey};

/// What a wallet is for (`user_wallets.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletRole {
    /// A user's deposit address, swept by consolidation.
    Deposit,
    /// Pays TRX for gas top-ups.
    Gas,
    /// Receives the swept USDT.
    Treasury,
}

impl WalletRole {
    pub fn as_str(self) -> &'static str {
        match self {
            WalletRole::Deposit => "deposit",
            WalletRole::Gas => "gas",
            WalletRole::Treasury => "treasury",
        }
    }
}

impl FromStr for WalletRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deposit" => Ok(Self::Deposit),
            "gas" => Ok(Self::Gas),
            "treasury" => Ok(Self::Treasury),
            other => Err(format!(
                "unknown wallet role {other:?}; expected deposit, gas or treasury"
            )),
        }
    }
}

impl fmt::Display for WalletRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
        existing: String,
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

    // One import per email at a time, so a new user is created once.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('walletops.user:' || lower($1)))")
        .bind(email)
        .execute(&mut *tx)
        .await?;
    let existing_user: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM auth.users WHERE lower(email) = lower($1) ORDER BY created_at LIMIT 1",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, created_user) = match existing_user {
        Some(id) => (id, false),
        None => {
            let id: Uuid =
                sqlx::query_scalar("INSERT INTO auth.users (email) VALUES ($1) RETURNING id")
                    .bind(email)
                    .fetch_one(&mut *tx)
                    .await?;
            (id, true)
        }
    };

    let row: Option<(Uuid, Option<Uuid>, String, bool)> = sqlx::query_as(
        "SELECT id, user_id, role, encrypted_key IS NOT NULL FROM user_wallets WHERE address = $1 FOR UPDATE",
    )
    .bind(address.to_base58())
    .fetch_optional(&mut *tx)
    .await?;
    let wallet_id = match row {
        Some((wallet_id, _, _, true)) => {
            return Err(WalletError::AlreadyImported { address, wallet_id });
        }
        Some((_, owner, _, false)) if owner.is_some_and(|o| o != user_id) => {
            return Err(WalletError::OtherUser { address });
        }
        Some((_, _, existing, false)) if existing != role.as_str() => {
            return Err(WalletError::OtherRole {
                address,
                existing,
                requested: role,
            });
        }
        Some((wallet_id, _, _, false)) => {
            let sealed = master.seal(wallet_id, key);
            sqlx::query(
                "UPDATE user_wallets SET user_id = $2, encrypted_key = $3, key_nonce = $4, active = $5 \
                 WHERE id = $1",
            )
            .bind(wallet_id)
            .bind(user_id)
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(activation.is_active())
            .execute(&mut *tx)
            .await?;
            wallet_id
        }
        None => {
            // The id is chosen here because it is the associated data of the seal.
            let wallet_id = Uuid::new_v4();
            let sealed = master.seal(wallet_id, key);
            let inserted = sqlx::query(
                "INSERT INTO user_wallets (id, user_id, address, role, encrypted_key, key_nonce, active) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (address) DO NOTHING",
            )
            .bind(wallet_id)
            .bind(user_id)
            .bind(address.to_base58())
            .bind(role.as_str())
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(activation.is_active())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                // Another import of the same address committed first.
                let wallet_id: Uuid =
                    sqlx::query_scalar("SELECT id FROM user_wallets WHERE address = $1")
                        .bind(address.to_base58())
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
    let sample: Option<(Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT id, encrypted_key, key_nonce FROM user_wallets \
         WHERE encrypted_key IS NOT NULL ORDER BY created_at LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    if let Some((id, ciphertext, nonce)) = sample {
        master.open(id, &SealedKey { ciphertext, nonce })?;
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
    #[derive(sqlx::FromRow)]
    struct Stored {
        address: String,
        encrypted_key: Option<Vec<u8>>,
        key_nonce: Option<Vec<u8>>,
    }
    let row: Option<Stored> =
        sqlx::query_as("SELECT address, encrypted_key, key_nonce FROM user_wallets WHERE id = $1")
            .bind(wallet_id)
            .fetch_optional(pool)
            .await?;
    match row {
        Some(Stored {
            address,
            encrypted_key: Some(ciphertext),
            key_nonce: Some(nonce),
        }) => Ok((address, SealedKey { ciphertext, nonce })),
        _ => Err(WalletError::NoKey(wallet_id)),
    }
}
