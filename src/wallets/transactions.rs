//! `wallet_transactions`: a wallet's confirmed transactions, TRX and USDT,
//! in and out. A transaction is stored once however often syncs run: rows
//! conflict on (wallet, txID, asset, direction, event index) and the
//! conflict does nothing.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// One row of `wallet_transactions`, as a sync or the chain follower found it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransaction {
    pub tx_id: String,
    /// Order of the event within the transaction (several TRC-20 logs may
    /// share one).
    pub event_index: i32,
    /// `trx` or `usdt`.
    pub asset: &'static str,
    /// `in` or `out`.
    pub direction: &'static str,
    pub from: String,
    pub to: String,
    pub amount: i64,
    pub block_number: Option<i64>,
    pub block_time: Option<DateTime<Utc>>,
    /// `confirmed` or `failed`.
    pub status: &'static str,
}

/// The block time of the wallet's newest stored transaction.
pub async fn newest_block_time(
    pool: &PgPool,
    wallet_id: Uuid,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT max(block_time) FROM wallet_transactions WHERE wallet_id = $1",
        wallet_id
    )
    .fetch_one(pool)
    .await
}

/// A row [`store_many`] inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    pub wallet_id: Uuid,
    pub tx_id: String,
    pub block_time: Option<DateTime<Utc>>,
}

/// Inserts the rows not stored yet, in one statement; returns them.
pub async fn store(
    pool: &PgPool,
    wallet_id: Uuid,
    rows: &[NewTransaction],
) -> Result<Vec<Inserted>, sqlx::Error> {
    let rows: Vec<_> = rows.iter().map(|r| (wallet_id, r.clone())).collect();
    store_many(&mut *pool.acquire().await?, &rows).await
}

/// Inserts the rows of several wallets not stored yet, in one statement (in
/// the caller's transaction: the chain follower moves its cursor with
/// them); returns the rows inserted. The conflict on the
/// row's key makes a row a sync stored, or the follower stored before,
/// a no-op.
pub async fn store_many(
    conn: &mut PgConnection,
    rows: &[(Uuid, NewTransaction)],
) -> Result<Vec<Inserted>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    fn col<T>(rows: &[(Uuid, NewTransaction)], f: impl Fn(&NewTransaction) -> T) -> Vec<T> {
        rows.iter().map(|(_, r)| f(r)).collect()
    }
    let wallets: Vec<Uuid> = rows.iter().map(|(w, _)| *w).collect();
    sqlx::query_as!(
        Inserted,
        "INSERT INTO wallet_transactions
             (wallet_id, tx_id, event_index, asset, direction, from_address, to_address,
              amount, block_number, block_time, status)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::bigint[], $9::bigint[],
                              $10::timestamptz[], $11::text[])
         ON CONFLICT (wallet_id, tx_id, asset, direction, event_index) DO NOTHING
         RETURNING wallet_id, tx_id, block_time",
        &wallets,
        &col(rows, |r| r.tx_id.clone()),
        &col(rows, |r| r.event_index),
        &col(rows, |r| r.asset.to_string()),
        &col(rows, |r| r.direction.to_string()),
        &col(rows, |r| r.from.clone()),
        &col(rows, |r| r.to.clone()),
        &col(rows, |r| r.amount),
        &col(rows, |r| r.block_number) as &[Option<i64>],
        &col(rows, |r| r.block_time) as &[Option<DateTime<Utc>>],
        &col(rows, |r| r.status.to_string()),
    )
    .fetch_all(conn)
    .await
}

/// Incoming rows grouped by (txID, asset, recipient address): how many, and
/// the first one's `created_at` (a benchmark checks each deposit was stored
/// exactly once, and when).
pub async fn incoming_by_transfer(
    pool: &PgPool,
) -> Result<Vec<((String, String, String), (i64, DateTime<Utc>))>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT t.tx_id, t.asset, w.address, count(*) AS "count!",
                  min(t.created_at) AS "first!"
             FROM wallet_transactions t JOIN user_wallets w ON w.id = t.wallet_id
            WHERE t.direction = 'in'
            GROUP BY 1, 2, 3"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.tx_id, r.asset, r.address), (r.count, r.first)))
        .collect())
}
