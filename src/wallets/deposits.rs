//! The chain follower's state in the database (`deposit_follower`,
//! `pending_deposits`, `stale_balances`; migration 0022): its election, its
//! cursor, the deposits it shows before their block is solidified, and the
//! wallets whose stored balance a recorded deposit made stale. The follower
//! itself (reading the chain) is `jobs::follower`.
//!
//! The cursor moves only in the transaction that stores the block's
//! `wallet_transactions` rows, and only while the lease is held
//! ([`record_block`]): whatever kills a follower mid-block, the block is
//! either recorded with its cursor or not at all, and its successor starts
//! from the cursor.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::transactions::{self, NewTransaction};

/// How long the follower's lease lasts without renewal: how soon another
/// worker takes over from a follower that died.
pub const FOLLOWER_LEASE: Duration = Duration::from_secs(10);

/// What the follower's writes can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DepositError {
    /// The lease ran out (another worker may follow now), or the cursor is
    /// not where this follower left it: nothing was written.
    #[error("the follower's lease was lost or its cursor moved: another worker follows now")]
    LeaseLost,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A write guarded by the follower's lease touched its one row, or the
/// lease is gone.
fn still_held(rows: u64) -> Result<(), DepositError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(DepositError::LeaseLost)
    }
}

/// The elected follower: the holder of the lease on `deposit_follower`.
#[derive(Debug)]
pub struct FollowerLease {
    holder: Uuid,
}

/// The last block whose deposits are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub number: i64,
    /// The blockID, hex.
    pub hash: String,
}

/// Tries to become the follower; `None` while another worker holds an
/// unexpired lease.
pub async fn try_follow(pool: &PgPool) -> Result<Option<FollowerLease>, sqlx::Error> {
    let holder = Uuid::new_v4();
    let got = sqlx::query!(
        "UPDATE deposit_follower SET holder = $1, renewed_at = now()
          WHERE holder IS NULL OR renewed_at IS NULL
             OR renewed_at < now() - make_interval(secs => $2)",
        holder,
        FOLLOWER_LEASE.as_secs_f64(),
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    Ok(got.then_some(FollowerLease { holder }))
}

impl FollowerLease {
    /// Renews the lease; [`DepositError::LeaseLost`] when it ran out.
    pub async fn renew(&self, pool: &PgPool) -> Result<(), DepositError> {
        let renewed = sqlx::query!(
            "UPDATE deposit_follower SET renewed_at = now()
              WHERE holder = $1 AND renewed_at >= now() - make_interval(secs => $2)",
            self.holder,
            FOLLOWER_LEASE.as_secs_f64(),
        )
        .execute(pool)
        .await?
        .rows_affected();
        if renewed == 1 {
            Ok(())
        } else {
            Err(DepositError::LeaseLost)
        }
    }

    /// Gives the lease up, so that another worker may follow at once.
    pub async fn resign(self, pool: &PgPool) {
        let _ = sqlx::query!(
            "UPDATE deposit_follower SET holder = NULL, renewed_at = NULL WHERE holder = $1",
            self.holder,
        )
        .execute(pool)
        .await;
    }

    /// Records the node's solidified head, for the lag figures.
    pub async fn saw_solid_head(
        &self,
        pool: &PgPool,
        number: i64,
        time: Option<DateTime<Utc>>,
    ) -> Result<(), DepositError> {
        let n = sqlx::query!(
            "UPDATE deposit_follower SET solid_number = $2, solid_time = $3, checked_at = now()
              WHERE holder = $1",
            self.holder,
            number,
            time,
        )
        .execute(pool)
        .await?
        .rows_affected();
        still_held(n)
    }

    /// Sets the cursor where none is yet (the first run starts at the
    /// solidified head: older history is `walletops deposits rescan`'s).
    pub async fn start_at(
        &self,
        pool: &PgPool,
        cursor: &Cursor,
        time: Option<DateTime<Utc>>,
    ) -> Result<(), DepositError> {
        let n = sqlx::query!(
            "UPDATE deposit_follower
                SET block_number = $2, block_hash = $3, block_time = $4,
                    start_number = $2, start_time = $4
              WHERE holder = $1 AND block_number IS NULL",
            self.holder,
            cursor.number,
            cursor.hash,
            time,
        )
        .execute(pool)
        .await?
        .rows_affected();
        still_held(n)
    }

    /// Reports a range the node cannot serve (pruned), until a rescan
    /// reads it. The cursor does not move past it.
    pub async fn report_gap(
        &self,
        pool: &PgPool,
        from: i64,
        to: i64,
        error: &str,
    ) -> Result<(), DepositError> {
        // Merged with a gap reported earlier and not yet rescanned: none is
        // forgotten (a rescan of the merged range re-reads some blocks for
        // nothing, harmlessly).
        sqlx::query!(
            "UPDATE deposit_follower
                SET gap_from = LEAST(gap_from, $2), gap_to = GREATEST(gap_to, $3),
                    gap_error = $4
              WHERE holder = $1",
            self.holder,
            from,
            to,
            error,
        )
        .execute(pool)
        .await?;
        Ok(())
    }
}

impl FollowerLease {
    /// Moves the cursor over a reported gap onto `to` (the solidified head),
    /// so that new deposits are found while the gap waits for a rescan.
    pub async fn skip_to(
        &self,
        pool: &PgPool,
        to: &Cursor,
        time: Option<DateTime<Utc>>,
    ) -> Result<(), DepositError> {
        let n = sqlx::query!(
            "UPDATE deposit_follower SET block_number = $2, block_hash = $3, block_time = $4
              WHERE holder = $1 AND block_number < $2",
            self.holder,
            to.number,
            to.hash,
            time,
        )
        .execute(pool)
        .await?
        .rows_affected();
        still_held(n)
    }
}

/// The cursor, if the follower ever ran.
pub async fn cursor(pool: &PgPool) -> Result<Option<Cursor>, sqlx::Error> {
    let row = sqlx::query!("SELECT block_number, block_hash FROM deposit_follower")
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(|r| {
        Some(Cursor {
            number: r.block_number?,
            hash: r.block_hash?,
        })
    }))
}

/// The follower as status, health and the console show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerState {
    /// A worker holds an unexpired lease.
    pub following: bool,
    pub block_number: Option<i64>,
    pub block_time: Option<DateTime<Utc>>,
    pub solid_number: Option<i64>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Blocks solidified but not yet recorded, at the follower's last look.
    pub lag_blocks: Option<i64>,
    /// Seconds from the last recorded block's time to now: grows while the
    /// follower is stopped or behind (on mainnet about a minute when caught
    /// up: solidification takes 19 blocks of 3 s).
    pub lag_seconds: Option<i64>,
    /// A range the node could not serve, not yet rescanned.
    pub gap: Option<Gap>,
    /// Unconfirmed deposits shown (`deposits.show_unconfirmed`).
    pub pending: i64,
    /// Transactions syncs found that the follower had missed: how many in
    /// all, and the latest report if it is less than a day old.
    pub missed_count: i64,
    pub missed_recently: Option<String>,
}

/// A range of blocks the node could not serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: i64,
    pub to: i64,
    /// What the node said.
    pub error: String,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "blocks {}..={} were not read ({}); run `walletops deposits rescan --from {} --to {}` \
             against a node that has them",
            self.from, self.to, self.error, self.from, self.to
        )
    }
}

/// Reads the follower's state (two index reads).
pub async fn state(pool: &PgPool) -> Result<FollowerState, sqlx::Error> {
    let Some(r) = sqlx::query!(
        r#"SELECT holder IS NOT NULL AND renewed_at >= now() - make_interval(secs => $1)
                  AS "following!",
                  block_number, block_time, solid_number, checked_at,
                  extract(epoch FROM now() - block_time)::bigint AS lag_seconds,
                  gap_from, gap_to, gap_error, missed_count,
                  CASE WHEN missed_at > now() - interval '1 day' THEN missed_detail END
                      AS missed_recently,
                  (SELECT count(*) FROM pending_deposits) AS "pending!"
             FROM deposit_follower"#,
        FOLLOWER_LEASE.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(FollowerState::default());
    };
    Ok(FollowerState {
        following: r.following,
        block_number: r.block_number,
        block_time: r.block_time,
        solid_number: r.solid_number,
        checked_at: r.checked_at,
        lag_blocks: r
            .solid_number
            .zip(r.block_number)
            .map(|(s, b)| (s - b).max(0)),
        lag_seconds: r.lag_seconds.map(|s| s.max(0)),
        gap: match (r.gap_from, r.gap_to) {
            (Some(from), Some(to)) => Some(Gap {
                from,
                to,
                error: r.gap_error.unwrap_or_default(),
            }),
            _ => None,
        },
        pending: r.pending,
        missed_count: r.missed_count,
        missed_recently: r.missed_recently,
    })
}

/// A solidified block's rows: one per transfer to or from a stored wallet.
#[derive(Debug, Clone)]
pub struct BlockRows {
    pub number: i64,
    pub hash: String,
    pub time: Option<DateTime<Utc>>,
    pub rows: Vec<(Uuid, NewTransaction)>,
}

/// Stores a solidified block's rows, marks the balances they change stale,
/// drops the pending deposits up to the block and, with `lease`, moves the
/// cursor onto the block: all in one transaction. With a lease, the cursor
/// must still be `from` (the follower checked the blocks in between, which
/// had no rows of ours, link up; else [`DepositError::LeaseLost`], nothing
/// written). Returns the wallets of the rows inserted (a row stored before,
/// by a sync or an earlier recording, is not inserted again).
pub async fn record_block(
    pool: &PgPool,
    lease: Option<(&FollowerLease, &Cursor)>,
    block: &BlockRows,
) -> Result<Vec<Uuid>, DepositError> {
    let mut tx = pool.begin().await?;
    if let Some((lease, from)) = lease {
        let moved = sqlx::query!(
            "UPDATE deposit_follower
                SET block_number = $2, block_hash = $3, block_time = $4
              WHERE holder = $1 AND renewed_at >= now() - make_interval(secs => $5)
                AND block_number = $6 AND block_hash = $7",
            lease.holder,
            block.number,
            block.hash,
            block.time,
            FOLLOWER_LEASE.as_secs_f64(),
            from.number,
            from.hash,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Err(DepositError::LeaseLost);
        }
    }
    let inserted: Vec<Uuid> = transactions::store_many(&mut tx, &block.rows)
        .await?
        .into_iter()
        .map(|r| r.wallet_id)
        .collect();
    mark_stale(&mut tx, &inserted).await?;
    sqlx::query!(
        "DELETE FROM pending_deposits WHERE block_number <= $1",
        block.number
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inserted)
}

async fn mark_stale(conn: &mut PgConnection, wallets: &[Uuid]) -> Result<(), sqlx::Error> {
    if wallets.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO stale_balances (wallet_id) SELECT DISTINCT unnest($1::uuid[])
         ON CONFLICT (wallet_id) DO NOTHING",
        wallets
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a sync found transactions in the followed range that the
/// follower had not recorded (a disagreement health reports for a day).
pub async fn report_missed(pool: &PgPool, count: i64, detail: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE deposit_follower
            SET missed_count = missed_count + $1, missed_at = now(), missed_detail = $2",
        count,
        detail
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the wallet's stored balance is older than a deposit recorded
/// since its last sync.
pub async fn balance_stale(pool: &PgPool, wallet_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM stale_balances WHERE wallet_id = $1) AS "stale!""#,
        wallet_id
    )
    .fetch_one(pool)
    .await
}

/// Replaces the pending deposits shown for block `number` with those of
/// its current version (`hash`): a block re-read with another hash (a
/// fork) shows what it holds now, no more.
pub async fn replace_pending(
    pool: &PgPool,
    number: i64,
    hash: &str,
    rows: &[(Uuid, NewTransaction)],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "DELETE FROM pending_deposits WHERE block_number = $1",
        number
    )
    .execute(&mut *tx)
    .await?;
    if !rows.is_empty() {
        fn col<T>(rows: &[(Uuid, NewTransaction)], f: impl Fn(&NewTransaction) -> T) -> Vec<T> {
            rows.iter().map(|(_, r)| f(r)).collect()
        }
        let wallets: Vec<Uuid> = rows.iter().map(|(w, _)| *w).collect();
        sqlx::query!(
            "INSERT INTO pending_deposits
                 (wallet_id, tx_id, event_index, asset, direction, from_address, to_address,
                  amount, block_time, block_number, block_hash)
             SELECT *, $10::bigint, $11::text
               FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                           $6::text[], $7::text[], $8::bigint[], $9::timestamptz[])
             ON CONFLICT (wallet_id, tx_id, asset, direction, event_index) DO UPDATE
                SET block_number = excluded.block_number, block_hash = excluded.block_hash,
                    block_time = excluded.block_time",
            &wallets,
            &col(rows, |r| r.tx_id.clone()),
            &col(rows, |r| r.event_index),
            &col(rows, |r| r.asset.to_string()),
            &col(rows, |r| r.direction.to_string()),
            &col(rows, |r| r.from.clone()),
            &col(rows, |r| r.to.clone()),
            &col(rows, |r| r.amount),
            &col(rows, |r| r.block_time) as &[Option<DateTime<Utc>>],
            number,
            hash,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// An unconfirmed deposit as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingDeposit {
    pub wallet_id: Uuid,
    pub tx_id: String,
    pub asset: String,
    pub direction: String,
    pub amount: i64,
    pub block_number: i64,
    pub block_hash: String,
}

/// The unconfirmed deposits shown, oldest block first.
pub async fn pending(pool: &PgPool) -> Result<Vec<PendingDeposit>, sqlx::Error> {
    sqlx::query_as!(
        PendingDeposit,
        "SELECT wallet_id, tx_id, asset, direction, amount, block_number, block_hash
           FROM pending_deposits ORDER BY block_number, tx_id, event_index"
    )
    .fetch_all(pool)
    .await
}

/// Forgets the reported gap once a rescan read the whole of it.
pub async fn clear_gap_within(pool: &PgPool, from: i64, to: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE deposit_follower SET gap_from = NULL, gap_to = NULL, gap_error = NULL
          WHERE gap_from >= $1 AND gap_to <= $2",
        from,
        to
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// The follower's first block and its time, and the cursor's time: the
/// range in which a transaction a sync finds should have been found by the
/// follower first.
pub async fn followed_range(
    pool: &PgPool,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    let r = sqlx::query!("SELECT start_time, block_time FROM deposit_follower")
        .fetch_optional(pool)
        .await?;
    Ok(r.and_then(|r| r.start_time.zip(r.block_time)))
}
