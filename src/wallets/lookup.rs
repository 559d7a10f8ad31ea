//! Finding wallets: the one an operator names, a job's, a payout address's
//! role, the gas wallet's balance and activation, and the console's search.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::WalletRole;
use crate::tron::Address;

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

/// A wallet's identity: what a job is dispatched to and works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletInfo {
    pub id: Uuid,
    pub address: String,
    pub user_id: Option<Uuid>,
    pub role: WalletRole,
}

/// A stored wallet a transfer touches, with its USDT balance as last synced
/// (what the chain follower's auto-consolidation adds a deposit to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub wallet: WalletInfo,
    pub usdt_balance: i64,
}

/// The stored wallets among `addresses` (base58), by one lookup on the
/// unique index of `user_wallets.address`: what the chain follower matches
/// each batch of blocks with (a few milliseconds for thousands of
/// addresses among millions of wallets; see docs/deposits.md).
pub async fn by_addresses(
    pool: &PgPool,
    addresses: &[String],
) -> Result<Vec<Matched>, sqlx::Error> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"SELECT id, address, user_id, role AS "role: WalletRole", usdt_balance
             FROM user_wallets WHERE address = ANY($1)"#,
        addresses
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Matched {
            wallet: WalletInfo {
                id: r.id,
                address: r.address,
                user_id: r.user_id,
                role: r.role,
            },
            usdt_balance: r.usdt_balance,
        })
        .collect())
}

/// The wallets `wallet_ref` names (a user's, oldest first, at most 10).
pub async fn matching(
    conn: &mut PgConnection,
    wallet_ref: &WalletRef,
) -> Result<Vec<WalletInfo>, sqlx::Error> {
    match wallet_ref {
        WalletRef::Id(id) => {
            sqlx::query_as!(
                WalletInfo,
                r#"SELECT id, address, user_id, role AS "role: WalletRole"
                     FROM user_wallets WHERE id = $1"#,
                id
            )
            .fetch_all(&mut *conn)
            .await
        }
        WalletRef::Address(address) => {
            sqlx::query_as!(
                WalletInfo,
                r#"SELECT id, address, user_id, role AS "role: WalletRole"
                     FROM user_wallets WHERE address = $1"#,
                address.to_string()
            )
            .fetch_all(&mut *conn)
            .await
        }
        // The owner's names live in auth.users; the wallet is what is found.
        WalletRef::User(who) => {
            sqlx::query_as!(
                WalletInfo,
                r#"SELECT w.id, w.address, w.user_id, w.role AS "role: WalletRole"
                     FROM user_wallets w JOIN auth.users u ON u.id = w.user_id
                    WHERE lower(u.email) = lower($1)
                       OR lower(u.raw_user_meta_data ->> 'name') = lower($1)
                       OR lower(u.raw_user_meta_data ->> 'full_name') = lower($1)
                    ORDER BY w.created_at LIMIT 10"#,
                who.trim()
            )
            .fetch_all(&mut *conn)
            .await
        }
    }
}

/// A job's wallet: by id when the job has one, else by address.
pub async fn for_job(
    pool: &PgPool,
    wallet_id: Option<Uuid>,
    address: Option<&str>,
) -> Result<Option<WalletInfo>, sqlx::Error> {
    sqlx::query_as!(
        WalletInfo,
        r#"SELECT id, address, user_id, role AS "role: WalletRole" FROM user_wallets
            WHERE id = $1 OR ($1 IS NULL AND address = $2)"#,
        wallet_id,
        address
    )
    .fetch_optional(pool)
    .await
}

/// The role of the wallet at `address`, if it is one of ours.
pub async fn role_of(pool: &PgPool, address: &Address) -> Result<Option<WalletRole>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT role AS "role: WalletRole" FROM user_wallets WHERE address = $1"#,
        address.to_base58()
    )
    .fetch_optional(pool)
    .await
}

/// The TRX balance (SUN) last synced for the wallet at `address`; `None`
/// when no wallet has that address.
pub async fn trx_balance_sun(pool: &PgPool, address: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT trx_balance_sun FROM user_wallets WHERE address = $1",
        address
    )
    .fetch_optional(pool)
    .await
}

/// Whether the wallet at `address` may sign (`user_wallets.active`), and
/// its id; `None` when no wallet has that address.
pub async fn activation(
    pool: &PgPool,
    address: &Address,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    Ok(sqlx::query!(
        "SELECT id, active FROM user_wallets WHERE address = $1",
        address.to_base58()
    )
    .fetch_optional(pool)
    .await?
    .map(|r| (r.id, r.active)))
}

/// The active wallets of `role` with a stored key: id and address.
pub async fn active_keyed(
    pool: &PgPool,
    role: WalletRole,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    Ok(sqlx::query!(
        "SELECT id, address FROM user_wallets
          WHERE role = $1 AND active AND encrypted_key IS NOT NULL
          ORDER BY created_at, address",
        role.as_str()
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.id, r.address))
    .collect())
}

/// The energy pool in use: the wallet at `configured`
/// (`energy.wallet_address`) when set, else the one active energy wallet.
/// `None` for the id when the configured address is no active wallet of
/// ours with a key (nothing can be signed for it then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnergyPool {
    pub id: Option<Uuid>,
    pub address: Address,
}

/// Why no energy pool can be chosen.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(
        "no active energy wallet: import one with `walletops wallet import --role energy` \
         (a second admin approves it), or keep gas.mode burn"
    )]
    None,
    #[error("{0} active energy wallets: choose one with energy.wallet_address")]
    Several(usize),
    #[error("energy wallet {0:?} has an invalid address")]
    BadAddress(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// See [`EnergyPool`].
pub async fn energy_pool(
    pool: &PgPool,
    configured: Option<Address>,
) -> Result<EnergyPool, PoolError> {
    let active = active_keyed(pool, WalletRole::Energy).await?;
    let (id, address) = match (configured, active.as_slice()) {
        (Some(a), _) => (
            active
                .iter()
                .find(|(_, b)| *b == a.to_base58())
                .map(|(id, _)| *id),
            a,
        ),
        (None, [(id, a)]) => (
            Some(*id),
            a.parse().map_err(|_| PoolError::BadAddress(a.clone()))?,
        ),
        (None, []) => return Err(PoolError::None),
        (None, several) => return Err(PoolError::Several(several.len())),
    };
    Ok(EnergyPool { id, address })
}

/// Whether an active wallet of `role` with a stored key exists.
pub async fn active_key_exists(
    conn: &mut PgConnection,
    role: WalletRole,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM user_wallets
                           WHERE role = $1 AND active AND encrypted_key IS NOT NULL) AS "exists!""#,
        role.as_str()
    )
    .fetch_one(conn)
    .await
}

/// A wallet found by [`search`], with its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: Uuid,
    pub address: String,
    pub user_email: Option<String>,
    pub user_name: Option<String>,
    pub role: WalletRole,
    pub trx_balance_sun: i64,
    pub usdt_balance: i64,
}

/// Wallets whose address starts with `query`, or whose owner's email or
/// name contains it (case-insensitive), address matches first; at most
/// `limit`. `query` is a LIKE pattern: the caller escapes it.
pub async fn search(pool: &PgPool, query: &str, limit: i64) -> Result<Vec<Found>, sqlx::Error> {
    // The owner's names live in auth.users; the wallets are what is found.
    sqlx::query_as!(
        Found,
        r#"SELECT w.id, w.address, u.email AS "user_email?",
                  coalesce(u.raw_user_meta_data ->> 'name', u.raw_user_meta_data ->> 'full_name')
                      AS user_name,
                  w.role AS "role: WalletRole", w.trx_balance_sun, w.usdt_balance
             FROM user_wallets w LEFT JOIN auth.users u ON u.id = w.user_id
            WHERE w.address LIKE $1 || '%'
               OR u.email ILIKE '%' || $1 || '%'
               OR u.raw_user_meta_data ->> 'name' ILIKE '%' || $1 || '%'
               OR u.raw_user_meta_data ->> 'full_name' ILIKE '%' || $1 || '%'
            ORDER BY (w.address LIKE $1 || '%') DESC, u.email NULLS LAST, w.address
            LIMIT $2"#,
        query,
        limit
    )
    .fetch_all(pool)
    .await
}
