//! The transfer records (`transfers`) and the signing locks
//! (`signing_locks`): the only module that writes SQL for either table.
//!
//! A record is committed before its transaction's first broadcast and
//! outlives the job that made it (the protocol around it is in
//! `src/jobs/transfers.rs`). The kind, asset and status of a record are the
//! enums below, stored as the text the table's CHECK constraints allow.
//! [`access`] keeps whether the node refuses the workers' credentials;
//! [`pool`] the energy pool and the energy price as last read from the chain.

pub mod access;
pub mod costs;
pub mod pool;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::db::text_enum;
use crate::tron::Sun;

/// What a transfer is for (`transfers.kind`, `signing_locks.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransferKind {
    ConsolidationUsdt,
    ConsolidationTrx,
    GasTopup,
    /// The energy wallet stakes its own TRX for energy (FreezeBalanceV2).
    EnergyStake,
    /// The energy wallet lends staked energy to a deposit wallet before its
    /// sweep (DelegateResource).
    EnergyDelegate,
    /// The energy wallet takes a delegation back (UnDelegateResource).
    EnergyReclaim,
}

text_enum!(TransferKind, "transfer kind", {
    ConsolidationUsdt => "consolidation-usdt",
    ConsolidationTrx => "consolidation-trx",
    GasTopup => "gas-topup",
    EnergyStake => "energy-stake",
    EnergyDelegate => "energy-delegate",
    EnergyReclaim => "energy-reclaim",
});

impl TransferKind {
    /// The asset this kind moves (the energy kinds: the staked TRX they
    /// concern, in SUN).
    pub fn asset(self) -> Asset {
        match self {
            TransferKind::ConsolidationUsdt => Asset::Usdt,
            TransferKind::ConsolidationTrx
            | TransferKind::GasTopup
            | TransferKind::EnergyStake
            | TransferKind::EnergyDelegate
            | TransferKind::EnergyReclaim => Asset::Trx,
        }
    }
}

/// Which asset a transfer moves (`transfers.asset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Asset {
    Trx,
    Usdt,
}

text_enum!(Asset, "asset", {
    Trx => "trx",
    Usdt => "usdt",
});

impl Asset {
    /// `units` (SUN or USDT's smallest unit) for people, e.g.
    /// `1,250.000000 USDT`: see [`crate::tron::format_units`].
    pub fn format(self, units: impl Into<i128>) -> String {
        let (decimals, symbol) = match self {
            Asset::Trx => (6, "TRX"),
            Asset::Usdt => (crate::tron::amount::USDT_DECIMALS, "USDT"),
        };
        crate::tron::format_units(units.into(), decimals, symbol)
    }
}

/// Where a record is (`transfers.status`): `signed` and `broadcast` are
/// unresolved (the transaction may still land), the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    Signed,
    Broadcast,
    Confirmed,
    Failed,
    Expired,
}

text_enum!(TransferStatus, "transfer status", {
    Signed => "signed",
    Broadcast => "broadcast",
    Confirmed => "confirmed",
    Failed => "failed",
    Expired => "expired",
});

impl TransferStatus {
    /// What the chain may still change: the transaction may yet land.
    pub fn is_unresolved(self) -> bool {
        matches!(self, TransferStatus::Signed | TransferStatus::Broadcast)
    }
}

/// A row of `transfers`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferRecord {
    pub id: Uuid,
    pub wallet_id: Uuid,
    pub job_id: Option<Uuid>,
    pub kind: TransferKind,
    pub asset: Asset,
    pub from_address: String,
    pub to_address: String,
    pub amount: i64,
    pub tx_id: String,
    pub signed_tx: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub status: TransferStatus,
    pub broadcast_count: i32,
    pub last_error: Option<String>,
}

/// A record to insert: a transaction signed and not yet broadcast.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub wallet_id: Uuid,
    /// `None` for a record made outside a job (an operator's stake, the
    /// maintenance leader's reclaim).
    pub job_id: Option<Uuid>,
    pub kind: TransferKind,
    pub asset: Asset,
    pub from_address: &'a str,
    pub to_address: &'a str,
    pub amount: i64,
    pub tx_id: &'a str,
    pub signed_tx: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

/// What the records show as signed today (UTC) of one kind: for one wallet
/// and in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedToday {
    pub wallet: u64,
    pub total: u64,
}

/// Locks the kind's signing row for the rest of the transaction `conn` is
/// in: one signature of a kind at a time. A row lock, not an advisory one:
/// locking the row needs UPDATE rights, which only workers hold, so a
/// viewer's login cannot take it and stall signing.
pub async fn lock_signing(conn: &mut PgConnection, kind: TransferKind) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO signing_locks (kind) VALUES ($1)
         ON CONFLICT (kind) DO UPDATE SET kind = EXCLUDED.kind",
        kind as TransferKind,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every signature of `kind` today, whatever became of it, as
/// `walletops signer`'s log counts them. A status is the worker's word (its
/// login writes it), so one marked expired or failed still counts; the
/// records' amounts and times are fixed by the database (migration 0011).
pub async fn signed_today(
    db: impl PgExecutor<'_>,
    kind: TransferKind,
    wallet_id: Uuid,
) -> Result<SignedToday, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT coalesce(sum(amount) FILTER (WHERE wallet_id = $2), 0)::bigint AS "wallet!",
                  coalesce(sum(amount), 0)::bigint AS "total!"
             FROM transfers
            WHERE kind = $1
              AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"#,
        kind as TransferKind,
        wallet_id,
    )
    .fetch_one(db)
    .await?;
    Ok(SignedToday {
        wallet: row.wallet.max(0) as u64,
        total: row.total.max(0) as u64,
    })
}

/// Inserts a signed transfer's record. `None` when the wallet already has
/// an unresolved transfer of this kind (at most one may exist: a partial
/// unique index).
pub async fn insert(
    conn: &mut PgConnection,
    r: &NewRecord<'_>,
) -> Result<Option<TransferRecord>, sqlx::Error> {
    let inserted = sqlx::query_as!(
        TransferRecord,
        r#"INSERT INTO transfers (wallet_id, job_id, kind, asset, from_address, to_address,
                                  amount, tx_id, signed_tx, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, wallet_id, job_id, kind AS "kind: TransferKind",
                     asset AS "asset: Asset", from_address, to_address, amount, tx_id,
                     signed_tx, expires_at, status AS "status: TransferStatus",
                     broadcast_count, last_error"#,
        r.wallet_id,
        r.job_id,
        r.kind as TransferKind,
        r.asset as Asset,
        r.from_address,
        r.to_address,
        r.amount,
        r.tx_id,
        r.signed_tx,
        r.expires_at,
    )
    .fetch_one(conn)
    .await;
    match inserted {
        Ok(record) => Ok(Some(record)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records one more broadcast of an unresolved record, with the node's
/// answer when it was not a plain acceptance.
pub async fn mark_broadcast(
    db: impl PgExecutor<'_>,
    id: Uuid,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE transfers
            SET status = 'broadcast', broadcast_count = broadcast_count + 1, last_error = $2
          WHERE id = $1 AND status IN ('signed', 'broadcast')",
        id,
        note,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What the chain charged a mined transfer, from its receipt (absent
/// fields are 0: the node omits zeros).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    /// All TRX burned (`fee`): energy, bandwidth and activation.
    pub fee: Sun,
    /// All energy used (`receipt.energy_usage_total`).
    pub energy_total: u64,
    /// Energy from stake: the sender's own or delegated to it, and the
    /// contract owner's share (`energy_usage + origin_energy_usage`).
    pub energy_stake: u64,
    /// TRX burned for the rest of the energy (`receipt.energy_fee`).
    pub energy_fee: Sun,
    /// Bandwidth used, in bytes (`receipt.net_usage`).
    pub net_usage: u64,
    /// TRX burned for bandwidth (`receipt.net_fee`).
    pub net_fee: Sun,
    /// The part of `fee` that is neither energy nor bandwidth: creating
    /// the receiving account.
    pub activation_fee: Sun,
}

impl Cost {
    /// The cost a receipt shows.
    pub fn of(info: &crate::tron::client::TransactionInfo) -> Cost {
        Cost {
            fee: info.fee,
            energy_total: info.energy_usage_total,
            energy_stake: info
                .energy_usage
                .saturating_add(info.origin_energy_usage)
                .min(info.energy_usage_total),
            energy_fee: info.energy_fee,
            net_usage: info.net_usage,
            net_fee: info.net_fee,
            activation_fee: Sun(info
                .fee
                .0
                .saturating_sub(info.energy_fee.0)
                .saturating_sub(info.net_fee.0)),
        }
    }

    /// Energy bought by burning TRX.
    pub fn energy_burned(&self) -> u64 {
        self.energy_total.saturating_sub(self.energy_stake)
    }
}

/// Where and at what cost a transfer was mined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mined {
    pub block: u64,
    pub cost: Cost,
}

/// Resolves an unresolved record as `status` (confirmed, failed or
/// expired), with the reason and where it was mined, if it was.
pub async fn mark_resolved(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: TransferStatus,
    error: Option<&str>,
    mined: Option<Mined>,
) -> Result<(), sqlx::Error> {
    debug_assert!(!status.is_unresolved(), "{status} is not a resolution");
    let cost = mined.map(|m| m.cost);
    let db_int = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    sqlx::query!(
        "UPDATE transfers
            SET status = $2, last_error = coalesce($3, last_error), block_number = $4,
                fee_sun = $5, energy_total = $6, energy_stake = $7, energy_fee_sun = $8,
                net_usage = $9, net_fee_sun = $10, activation_fee_sun = $11,
                resolved_at = now()
          WHERE id = $1 AND status IN ('signed', 'broadcast')",
        id,
        status as TransferStatus,
        error,
        db_int(mined.map(|m| m.block)),
        db_int(cost.map(|c| c.fee.0)),
        db_int(cost.map(|c| c.energy_total)),
        db_int(cost.map(|c| c.energy_stake)),
        db_int(cost.map(|c| c.energy_fee.0)),
        db_int(cost.map(|c| c.net_usage)),
        db_int(cost.map(|c| c.net_fee.0)),
        db_int(cost.map(|c| c.activation_fee.0)),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A job's transfer as an operator reads it: what moved, where it is, and
/// the chain's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobTransfer {
    pub tx_id: String,
    pub kind: TransferKind,
    pub asset: Asset,
    pub from_address: String,
    pub to_address: String,
    /// In the asset's smallest unit.
    pub amount: i64,
    pub status: TransferStatus,
    pub broadcast_count: i32,
    /// The node's or the chain's last word when it was not a plain yes.
    pub last_error: Option<String>,
    pub block_number: Option<i64>,
    /// SUN the chain burned for it, once mined.
    pub fee_sun: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The transfers `job_id` made, oldest first.
pub async fn of_job(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
) -> Result<Vec<JobTransfer>, sqlx::Error> {
    sqlx::query_as!(
        JobTransfer,
        r#"SELECT tx_id, kind AS "kind: TransferKind", asset AS "asset: Asset",
                  from_address, to_address, amount, status AS "status: TransferStatus",
                  broadcast_count, last_error, block_number, fee_sun, created_at, resolved_at
             FROM transfers
            WHERE job_id = $1
            ORDER BY created_at, id"#,
        job_id,
    )
    .fetch_all(db)
    .await
}

/// The wallet's unresolved records, oldest first.
pub async fn unresolved(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
) -> Result<Vec<TransferRecord>, sqlx::Error> {
    sqlx::query_as!(
        TransferRecord,
        r#"SELECT id, wallet_id, job_id, kind AS "kind: TransferKind", asset AS "asset: Asset",
                  from_address, to_address, amount, tx_id, signed_tx, expires_at,
                  status AS "status: TransferStatus", broadcast_count, last_error
             FROM transfers
            WHERE wallet_id = $1 AND status IN ('signed', 'broadcast')
            ORDER BY created_at, id"#,
        wallet_id,
    )
    .fetch_all(db)
    .await
}

/// Whether a transfer of this kind made by `job_id` is confirmed.
pub async fn landed(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    kind: TransferKind,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM transfers
                           WHERE job_id = $1 AND kind = $2 AND status = 'confirmed') AS "landed!""#,
        job_id,
        kind as TransferKind,
    )
    .fetch_one(db)
    .await
}

/// A record's status now.
pub async fn status(db: impl PgExecutor<'_>, id: Uuid) -> Result<TransferStatus, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT status AS "status: TransferStatus" FROM transfers WHERE id = $1"#,
        id,
    )
    .fetch_one(db)
    .await
}

/// Whether `job_id` has a record that may still land (or has landed
/// unseen): its job must not fail or spend a retry before it is resolved.
pub async fn job_has_unresolved(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM transfers
                           WHERE job_id = $1 AND status IN ('signed', 'broadcast')) AS "unresolved!""#,
        job_id,
    )
    .fetch_one(db)
    .await
}

/// TRX (SUN) that USDT sweeps burned for energy today (UTC), by the
/// records resolved today: what `gas.daily_burn_cap_sun` bounds.
pub async fn energy_burned_today(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let sun = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(energy_fee_sun), 0)::bigint AS "sun!"
             FROM transfers
            WHERE kind = 'consolidation-usdt' AND fee_sun IS NOT NULL
              AND resolved_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"#,
    )
    .fetch_one(db)
    .await?;
    Ok(sun.max(0) as u64)
}

/// The mean energy of the last 20 confirmed USDT sweeps: what the next
/// one will likely use. `None` before the first.
pub async fn recent_sweep_energy(db: impl PgExecutor<'_>) -> Result<Option<u64>, sqlx::Error> {
    let mean = sqlx::query_scalar!(
        r#"SELECT avg(energy_total)::bigint FROM (
               SELECT energy_total FROM transfers
                WHERE kind = 'consolidation-usdt' AND status = 'confirmed'
                  AND energy_total > 0
                ORDER BY resolved_at DESC NULLS LAST LIMIT 20) recent"#,
    )
    .fetch_one(db)
    .await?;
    Ok(mean.and_then(|m| u64::try_from(m).ok()))
}

/// When `pool` last lent to each receiver, by its confirmed energy-delegate
/// records: the age of what is delegated out.
pub async fn last_delegations(
    db: impl PgExecutor<'_>,
    pool: &str,
) -> Result<Vec<(String, DateTime<Utc>)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT to_address, max(coalesce(resolved_at, created_at)) AS "at!"
             FROM transfers
            WHERE kind = 'energy-delegate' AND status = 'confirmed' AND from_address = $1
            GROUP BY to_address"#,
        pool,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.to_address, r.at)).collect())
}

/// Up to `limit` unresolved records that no live job will settle: their
/// job failed, was cancelled or was deleted. Oldest first. The statement
/// reads `job_logs` too, for the job's status; its main table is
/// `transfers`, so it lives here.
pub async fn left_by_dead_jobs(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<TransferRecord>, sqlx::Error> {
    sqlx::query_as!(
        TransferRecord,
        r#"SELECT t.id, t.wallet_id, t.job_id, t.kind AS "kind: TransferKind",
                  t.asset AS "asset: Asset", t.from_address, t.to_address, t.amount, t.tx_id,
                  t.signed_tx, t.expires_at, t.status AS "status: TransferStatus",
                  t.broadcast_count, t.last_error
             FROM transfers t
             LEFT JOIN job_logs j ON j.id = t.job_id
            WHERE t.status IN ('signed', 'broadcast')
              AND (t.job_id IS NULL OR j.id IS NULL OR j.status IN ('failed', 'cancelled'))
            ORDER BY t.created_at, t.id
            LIMIT $1"#,
        limit,
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enums_round_trip_their_stored_text() {
        for k in TransferKind::ALL {
            assert_eq!(k.as_str().parse::<TransferKind>().unwrap(), *k);
        }
        for a in Asset::ALL {
            assert_eq!(a.as_str().parse::<Asset>().unwrap(), *a);
        }
        for s in TransferStatus::ALL {
            assert_eq!(s.as_str().parse::<TransferStatus>().unwrap(), *s);
        }
        assert_eq!(
            "gas_topup".parse::<TransferKind>().unwrap_err().to_string(),
            "unknown transfer kind \"gas_topup\"; valid: consolidation-usdt consolidation-trx gas-topup \
             energy-stake energy-delegate energy-reclaim"
        );
        assert_eq!(TransferKind::ConsolidationUsdt.asset(), Asset::Usdt);
    }

    fn info(
        fee: u64,
        stake: u64,
        origin: u64,
        total: u64,
        energy_fee: u64,
        net_fee: u64,
    ) -> crate::tron::client::TransactionInfo {
        crate::tron::client::TransactionInfo {
            txid: crate::tron::TxId::from_bytes([0; 32]),
            block_number: 1,
            block_timestamp_ms: 0,
            fee: Sun(fee),
            energy_usage: stake,
            origin_energy_usage: origin,
            energy_usage_total: total,
            energy_fee: Sun(energy_fee),
            net_usage: 345,
            net_fee: Sun(net_fee),
            receipt_result: None,
            failed: false,
            message: None,
            logs: Vec::new(),
        }
    }

    #[test]
    fn a_cost_splits_energy_by_source_and_keeps_the_activation_apart() {
        // Half the energy delegated, the rest burned at 100 SUN.
        let c = Cost::of(&info(3_200_000, 31_990, 10, 64_000, 3_200_000, 0));
        assert_eq!(
            (c.energy_total, c.energy_stake, c.energy_burned()),
            (64_000, 32_000, 32_000)
        );
        assert_eq!(c.activation_fee, Sun::ZERO);
        // A top-up creating its receiver: 1 TRX system fee, 0.1 TRX bandwidth.
        let c = Cost::of(&info(1_100_000, 0, 0, 0, 0, 100_000));
        assert_eq!(
            (c.fee, c.net_fee, c.activation_fee),
            (Sun(1_100_000), Sun(100_000), Sun(1_000_000))
        );
        // A receipt that does not add up never gives a negative part.
        let c = Cost::of(&info(5, 70_000, 0, 64_000, 10, 10));
        assert_eq!(
            (c.energy_stake, c.energy_burned(), c.activation_fee),
            (64_000, 0, Sun::ZERO)
        );
    }
}
