//! The chain follower: deposits found by reading each block once, at a cost
//! that does not grow with the number of wallets (issue 16).
//!
//! One worker per database follows (the lease of `deposit_follower`,
//! [`crate::wallets::deposits`]; another takes over within
//! [`FOLLOWER_LEASE`] plus [`LEAD_RETRY_EVERY`] when it dies). It reads the
//! solidified blocks after its cursor in order, a range per request, and the
//! receipts of a block only when the block calls a watched token. Every
//! transfer to or from a stored wallet becomes the `wallet_transactions`
//! row a sync of that wallet would write (same key: neither counts a
//! transfer twice), in the transaction that moves the cursor onto the
//! block. With `deposits.show_unconfirmed` it also shows the transfers of
//! the blocks above the solidified head as pending, re-read every round: a
//! block whose hash changed (a fork) shows what it holds now.
//!
//! Matching: the block's addresses are looked up in one query on the unique
//! index of `user_wallets.address` per block (measured against an
//! in-memory set in docs/deposits.md). Requests: one for the solidified
//! head per round, one per range of [`RANGE`] blocks, one per block that
//! calls a watched token; the client's `--tron-requests-per-second` bounds
//! a catch-up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use super::{Context, CrashStep, JobError, sync};
use crate::settings::{DepositSettings, JobSettings};
use crate::tron::client::{Block, ClientError, MAX_BLOCK_RANGE, TransactionInfo, TronClient, View};
use crate::tron::{Address, Contract, RefBlock, Sun, TokenUnits};
use crate::wallets::deposits::{self, BlockRows, Cursor, DepositError, FollowerLease};
use crate::wallets::lookup::{self, Matched};
use crate::wallets::transactions::NewTransaction;

pub use crate::wallets::deposits::FOLLOWER_LEASE;

/// How often a worker that does not follow tries to.
pub const LEAD_RETRY_EVERY: Duration = Duration::from_secs(3);
/// Most blocks one range request asks for (`getblockbylimitnext` serves
/// at most 100 on java-tron).
pub const RANGE: u64 = MAX_BLOCK_RANGE;
/// How long a disabled follower waits before looking at the switch again.
const DISABLED_WAIT: Duration = Duration::from_secs(5);

/// What one round of following can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Deposits(#[from] DepositError),
    #[error("TRON node: {0}")]
    Tron(#[from] ClientError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error("block {number}: {message}")]
    Chain { number: u64, message: String },
}

impl From<sqlx::Error> for FollowError {
    fn from(e: sqlx::Error) -> Self {
        FollowError::Deposits(DepositError::Db(e))
    }
}

impl From<crate::settings::SettingsError> for FollowError {
    fn from(e: crate::settings::SettingsError) -> Self {
        FollowError::Job(e.into())
    }
}

/// One transfer a block shows, before matching.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Transfer {
    tx_id: String,
    asset: &'static str,
    from: Address,
    to: Address,
    amount: u64,
    status: &'static str,
}

/// The transfers of `block` the settings watch: TRX transfers from the
/// block itself, USDT `Transfer` events from the receipts (`infos`; only
/// successful ones emit events).
fn transfers(block: &Block, infos: &[TransactionInfo], s: &DepositSettings) -> Vec<Transfer> {
    let mut out = Vec::new();
    if s.watch_trx {
        for tx in &block.transactions {
            if let Some(Contract::Transfer {
                owner,
                to,
                amount: Sun(sun),
            }) = tx.contract
            {
                out.push(Transfer {
                    tx_id: tx.txid.to_hex(),
                    asset: "trx",
                    from: owner,
                    to,
                    amount: sun,
                    // As sync decides from the indexer's contractRet.
                    status: if tx.contract_ret.as_deref().is_none_or(|r| r == "SUCCESS") {
                        "confirmed"
                    } else {
                        "failed"
                    },
                });
            }
        }
    }
    if s.watch_usdt {
        for info in infos.iter().filter(|i| i.succeeded()) {
            for t in info.trc20_transfers(&s.usdt_contract) {
                out.push(Transfer {
                    tx_id: info.txid.to_hex(),
                    asset: "usdt",
                    from: t.from,
                    to: t.to,
                    amount: t.amount.0,
                    status: "confirmed",
                });
            }
        }
    }
    out
}

/// Whether the block calls the watched token (only then are its receipts
/// worth a request).
fn calls_token(block: &Block, s: &DepositSettings) -> bool {
    s.watch_usdt
        && block.transactions.iter().any(|t| {
            matches!(&t.contract, Some(Contract::TriggerSmartContract { contract, .. })
                if *contract == s.usdt_contract)
        })
}

/// The rows of `transfers` for the stored wallets among `wallets` (by
/// base58 address): the rows a sync of each wallet would write, with the
/// same key. Several events of one transaction for one wallet and
/// direction are numbered in their order, as sync numbers them.
fn rows(
    transfers: &[Transfer],
    wallets: &HashMap<String, Matched>,
    block_number: i64,
    block_time: Option<DateTime<Utc>>,
) -> Result<Vec<(Uuid, NewTransaction)>, JobError> {
    let mut out: Vec<(Uuid, NewTransaction)> = Vec::new();
    for t in transfers {
        let (from, to) = (t.from.to_base58(), t.to.to_base58());
        for (address, direction) in [(&from, "out"), (&to, "in")] {
            let Some(m) = wallets.get(address) else {
                continue;
            };
            let event_index = out
                .iter()
                .filter(|(w, r)| {
                    *w == m.wallet.id
                        && r.tx_id == t.tx_id
                        && r.asset == t.asset
                        && r.direction == direction
                })
                .count() as i32;
            out.push((
                m.wallet.id,
                NewTransaction {
                    tx_id: t.tx_id.clone(),
                    event_index,
                    asset: t.asset,
                    direction,
                    from: from.clone(),
                    to: to.clone(),
                    amount: i64::try_from(t.amount).map_err(|_| {
                        JobError::Final(format!("transaction amount {} overflows", t.amount))
                    })?,
                    block_number: Some(block_number),
                    block_time,
                    status: t.status,
                },
            ));
        }
    }
    Ok(out)
}

/// The rows of one block for the stored wallets it touches, and those
/// wallets.
async fn match_block(
    pool: &PgPool,
    tron: &TronClient,
    view: View,
    block: &Block,
    settings: &DepositSettings,
) -> Result<(Vec<(Uuid, NewTransaction)>, HashMap<String, Matched>), FollowError> {
    let infos = if calls_token(block, settings) {
        tron.transaction_infos_by_block(block.number, view).await?
    } else {
        Vec::new()
    };
    let transfers = transfers(block, &infos, settings);
    let addresses: Vec<String> = transfers
        .iter()
        .flat_map(|t| [t.from.to_base58(), t.to.to_base58()])
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let wallets: HashMap<String, Matched> = lookup::by_addresses(pool, &addresses)
        .await?
        .into_iter()
        .map(|m| (m.wallet.address.clone(), m))
        .collect();
    let rows = rows(
        &transfers,
        &wallets,
        block.number as i64,
        DateTime::from_timestamp_millis(block.timestamp_ms),
    )?;
    Ok((rows, wallets))
}

/// What reading a range of solidified blocks recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    pub blocks: u64,
    /// Rows inserted (a row stored before is not counted).
    pub rows: u64,
}

/// Reads solidified blocks `from..=to` and records their rows without
/// moving the cursor: `walletops deposits rescan`. Safe beside a running
/// follower (a row stored twice is stored once). Forgets a reported gap
/// the range covers.
pub async fn rescan(
    pool: &PgPool,
    tron: &TronClient,
    from: u64,
    to: u64,
) -> Result<Recorded, FollowError> {
    let settings = DepositSettings::load(pool).await?;
    let mut done = Recorded::default();
    let mut next = from;
    while next <= to {
        let last = to.min(next + RANGE - 1);
        let blocks = tron.blocks(next..last + 1, View::Solidified).await?;
        let read = blocks.len() as u64;
        for block in blocks {
            let (rows, _) = match_block(pool, tron, View::Solidified, &block, &settings).await?;
            let inserted = deposits::record_block(
                pool,
                None,
                &BlockRows {
                    number: block.number as i64,
                    hash: block.id.to_hex(),
                    time: DateTime::from_timestamp_millis(block.timestamp_ms),
                    rows,
                },
            )
            .await?;
            done.blocks += 1;
            done.rows += inserted.len() as u64;
        }
        // The node may serve fewer than asked (up to a block it lacks).
        next += read;
    }
    deposits::clear_gap_within(pool, from as i64, to as i64).await?;
    Ok(done)
}

/// Runs the follower in this worker until `stop`: tries to follow while
/// `deposits.enabled` is on, and follows while it holds the lease.
pub async fn run(ctx: &Context, mut stop: watch::Receiver<bool>) {
    let mut lease: Option<FollowerLease> = None;
    let mut pending = PendingView::default();
    loop {
        let wait = match step(ctx, &mut lease, &mut pending).await {
            Ok(wait) => wait,
            Err(e) => {
                warn!(error = %e, "chain follower round failed");
                if matches!(e, FollowError::Deposits(DepositError::LeaseLost)) {
                    lease = None;
                }
                LEAD_RETRY_EVERY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if let Some(l) = lease {
        l.resign(&ctx.pool).await;
    }
}

/// One round; returns how long to wait before the next.
async fn step(
    ctx: &Context,
    lease: &mut Option<FollowerLease>,
    pending: &mut PendingView,
) -> Result<Duration, FollowError> {
    let settings = DepositSettings::load(&ctx.pool).await?;
    if !settings.enabled {
        if let Some(l) = lease.take() {
            info!("deposits.enabled is off: no longer following the chain");
            l.resign(&ctx.pool).await;
        }
        return Ok(DISABLED_WAIT);
    }
    let l = match lease {
        Some(l) => l,
        None => match deposits::try_follow(&ctx.pool).await? {
            Some(l) => {
                info!("following the chain for deposits");
                lease.insert(l)
            }
            None => return Ok(LEAD_RETRY_EVERY),
        },
    };
    l.renew(&ctx.pool).await?;
    let solid = ctx.tron.block(View::Solidified).await?;
    l.saw_solid_head(
        &ctx.pool,
        solid.number as i64,
        DateTime::from_timestamp_millis(solid.timestamp_ms),
    )
    .await?;
    let cursor = match deposits::cursor(&ctx.pool).await? {
        Some(c) => c,
        None => {
            let c = Cursor {
                number: solid.number as i64,
                hash: hex::encode(solid.id),
            };
            l.start_at(
                &ctx.pool,
                &c,
                DateTime::from_timestamp_millis(solid.timestamp_ms),
            )
            .await?;
            info!(
                block = c.number,
                "chain follower starts at the solidified head"
            );
            c
        }
    };
    let caught_up = catch_up(ctx, l, &settings, cursor, &solid).await?;
    if settings.show_unconfirmed && caught_up {
        pending.refresh(ctx, &settings, solid.number).await?;
    }
    Ok(if caught_up { ctx.poll } else { Duration::ZERO })
}

/// Records the solidified blocks after `cursor`, one range (at most
/// [`RANGE`] blocks) per call; true once the cursor is at the solidified
/// head.
async fn catch_up(
    ctx: &Context,
    lease: &FollowerLease,
    settings: &DepositSettings,
    mut cursor: Cursor,
    solid: &RefBlock,
) -> Result<bool, FollowError> {
    let from = cursor.number as u64 + 1;
    if from > solid.number {
        return Ok(true);
    }
    let to = solid.number.min(from + RANGE - 1);
    let blocks = match ctx.tron.blocks(from..to + 1, View::Solidified).await {
        Ok(b) => b,
        // Below the solidified head: not "not yet", but gone (pruned).
        Err(e @ ClientError::BlockUnavailable { .. }) => {
            // The node no longer has these blocks: say so, and follow on
            // from the head rather than stall; a rescan against a node that
            // has them reads the gap.
            warn!(from, to = solid.number, error = %e,
                "blocks the node cannot serve: reported as a gap, following on from the head");
            lease
                .report_gap(&ctx.pool, from as i64, solid.number as i64, &e.to_string())
                .await?;
            lease
                .skip_to(
                    &ctx.pool,
                    &Cursor {
                        number: solid.number as i64,
                        hash: hex::encode(solid.id),
                    },
                    DateTime::from_timestamp_millis(solid.timestamp_ms),
                )
                .await?;
            return Ok(true);
        }
        Err(e) => return Err(e.into()),
    };
    let job_settings = JobSettings::load(&ctx.pool).await?;
    // `cursor` is the newest block checked to link up; `recorded`, the
    // cursor as stored. Blocks with nothing of ours move the stored cursor
    // once, at the end of the range: one write per range, not per block.
    let mut recorded = cursor.clone();
    let last = blocks.len().saturating_sub(1);
    for (i, block) in blocks.into_iter().enumerate() {
        let (hash, parent_hash) = (block.id.to_hex(), block.parent.to_hex());
        if block.number as i64 != cursor.number + 1 || parent_hash != cursor.hash {
            return Err(FollowError::Chain {
                number: block.number,
                message: format!(
                    "does not follow block {} {} (parent {parent_hash}); the node's \
                     solidified chain changed",
                    cursor.number, cursor.hash
                ),
            });
        }
        let (rows, wallets) =
            match_block(&ctx.pool, &ctx.tron, View::Solidified, &block, settings).await?;
        cursor = Cursor {
            number: block.number as i64,
            hash,
        };
        if rows.is_empty() && i < last {
            continue;
        }
        if !rows.is_empty() {
            ctx.crash_point(CrashStep::FollowerMidBlock);
        }
        let record = BlockRows {
            number: cursor.number,
            hash: cursor.hash.clone(),
            time: DateTime::from_timestamp_millis(block.timestamp_ms),
            rows,
        };
        let inserted = deposits::record_block(&ctx.pool, Some((lease, &recorded)), &record).await?;
        recorded = cursor.clone();
        if !inserted.is_empty() {
            info!(
                block = block.number,
                rows = inserted.len(),
                "deposits recorded"
            );
            consolidate(ctx, &job_settings, &record, &wallets, &inserted).await?;
        }
    }
    Ok(cursor.number as u64 >= solid.number)
}

/// `sync.auto_consolidate` for the wallets a block paid USDT to: their
/// balance as last synced plus what this block brought, under the rule a
/// sync applies (the consolidation reads the real balance before it moves
/// anything).
async fn consolidate(
    ctx: &Context,
    settings: &JobSettings,
    block: &BlockRows,
    wallets: &HashMap<String, Matched>,
    inserted: &[Uuid],
) -> Result<(), FollowError> {
    if !settings.auto_consolidate {
        return Ok(());
    }
    for m in wallets.values().filter(|m| inserted.contains(&m.wallet.id)) {
        let brought: i64 = block
            .rows
            .iter()
            .filter(|(w, r)| *w == m.wallet.id && r.asset == "usdt" && r.direction == "in")
            .map(|(_, r)| r.amount)
            .sum();
        if brought == 0 {
            continue;
        }
        let usdt = TokenUnits((m.usdt_balance.max(0) as u64).saturating_add(brought as u64));
        sync::auto_consolidate(
            &ctx.pool,
            settings,
            &m.wallet,
            usdt,
            serde_json::json!({ "requested_by": "deposits", "block": block.number, "usdt": usdt.0 }),
        )
        .await?;
    }
    Ok(())
}

/// The unconfirmed blocks shown as pending, by number: their hash when last
/// read, so that a block is written again only when it changed.
#[derive(Debug, Default)]
struct PendingView {
    hashes: BTreeMap<u64, String>,
}

impl PendingView {
    /// Re-reads the blocks above the solidified head and shows their
    /// transfers to or from stored wallets as pending; a block whose hash
    /// changed since the last read (a fork) replaces what it showed.
    async fn refresh(
        &mut self,
        ctx: &Context,
        settings: &DepositSettings,
        solid: u64,
    ) -> Result<(), FollowError> {
        self.hashes = self.hashes.split_off(&(solid + 1));
        let head = ctx.tron.block(View::Head).await?;
        if head.number <= solid {
            return Ok(());
        }
        let from = (solid + 1).max(head.number.saturating_sub(RANGE - 1));
        for block in ctx.tron.blocks(from..head.number + 1, View::Head).await? {
            let hash = block.id.to_hex();
            if self.hashes.get(&block.number) == Some(&hash) {
                continue;
            }
            let (rows, _) = match_block(&ctx.pool, &ctx.tron, View::Head, &block, settings).await?;
            deposits::replace_pending(&ctx.pool, block.number as i64, &hash, &rows).await?;
            self.hashes.insert(block.number, hash);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tron::TxId;
    use crate::tron::client::{BlockId, BlockTransaction};
    use crate::wallets::{WalletInfo, WalletRole};

    fn addr(n: u8) -> Address {
        Address::from_evm([n; 20])
    }

    fn settings() -> DepositSettings {
        DepositSettings {
            enabled: true,
            show_unconfirmed: false,
            watch_trx: true,
            watch_usdt: true,
            usdt_contract: addr(9),
        }
    }

    fn matched(n: u8) -> (String, Matched) {
        let a = addr(n).to_base58();
        (
            a.clone(),
            Matched {
                wallet: WalletInfo {
                    id: Uuid::from_bytes([n; 16]),
                    address: a,
                    user_id: None,
                    role: WalletRole::Deposit,
                },
                usdt_balance: 0,
            },
        )
    }

    fn trx(txid: u8, from: u8, to: u8, amount: u64, ret: &str) -> BlockTransaction {
        BlockTransaction {
            txid: TxId::from_bytes([txid; 32]),
            contract_type: "TransferContract".into(),
            contract: Some(Contract::Transfer {
                owner: addr(from),
                to: addr(to),
                amount: Sun(amount),
            }),
            contract_ret: Some(ret.into()),
        }
    }

    #[test]
    fn transfers_between_strangers_are_ignored_and_ours_get_sync_keys() {
        let block = Block {
            number: 7,
            id: BlockId([7; 32]),
            parent: BlockId([6; 32]),
            timestamp_ms: 1_700_000_000_000,
            transactions: vec![
                trx(1, 50, 1, 5, "SUCCESS"),
                trx(2, 51, 52, 9, "SUCCESS"),
                trx(3, 1, 2, 3, "REVERT"),
            ],
        };
        let found = transfers(&block, &[], &settings());
        assert_eq!(found.len(), 3);
        let wallets: HashMap<_, _> = [matched(1), matched(2)].into_iter().collect();
        let rows = rows(&found, &wallets, 7, None).unwrap();
        let keys: Vec<_> = rows
            .iter()
            .map(|(w, r)| {
                (
                    w.as_bytes()[0],
                    r.tx_id[..2].to_string(),
                    r.direction,
                    r.status,
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                (1, "01".into(), "in", "confirmed"),
                (1, "03".into(), "out", "failed"),
                (2, "03".into(), "in", "failed"),
            ]
        );
        assert!(rows.iter().all(|(_, r)| r.event_index == 0));
    }

    #[test]
    fn receipts_are_read_only_for_blocks_that_call_the_token() {
        let mut block = Block {
            number: 1,
            id: BlockId([1; 32]),
            parent: BlockId([0; 32]),
            timestamp_ms: 0,
            transactions: vec![trx(1, 1, 2, 1, "SUCCESS")],
        };
        assert!(!calls_token(&block, &settings()));
        block.transactions.push(BlockTransaction {
            txid: TxId::from_bytes([2; 32]),
            contract_type: "TriggerSmartContract".into(),
            contract: Some(Contract::TriggerSmartContract {
                owner: addr(1),
                contract: addr(9),
                call_value: Sun(0),
                data: vec![],
            }),
            contract_ret: None,
        });
        assert!(calls_token(&block, &settings()));
        let off = DepositSettings {
            watch_usdt: false,
            ..settings()
        };
        assert!(!calls_token(&block, &off));
    }
}
