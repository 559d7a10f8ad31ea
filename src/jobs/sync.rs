//! `sync`: the wallet's TRX and USDT balances onto its row (with the time
//! of the sync, [`crate::wallets::state`]), and its confirmed transactions
//! — TRX and USDT, in and out — into its history
//! ([`crate::wallets::transactions`], which stores each one once however
//! often syncs run).
//!
//! With `sync.auto_consolidate` on, a deposit wallet holding at least
//! `consolidation.min_usdt` gets a consolidation queued.

use chrono::{DateTime, Utc};

use super::{Context, Done, JobError, JobSettings, Wallet, transfers};
use crate::queue::{self, Job, JobType, NewJob};
use crate::tron::client::ListQuery;
use crate::tron::{Address, Contract, Sun, TokenUnits};
use crate::wallets::transactions::{self, NewTransaction as Row};
use crate::wallets::{WalletRole, deposits, state};

/// Transactions of the last sync's newest block time minus this margin are
/// fetched again (the conflict makes the overlap harmless), in case the
/// indexer lists a block late.
const OVERLAP_MS: i64 = 10 * 60 * 1000;

pub async fn run(ctx: &Context, job: &Job, wallet: &Wallet) -> Result<Done, JobError> {
    let result = sync_wallet(ctx, job, wallet).await;
    if let Err(e) = &result {
        state::record_sync_error(&ctx.pool, wallet.id, &e.to_string()).await?;
    }
    result
}

async fn sync_wallet(ctx: &Context, job: &Job, wallet: &Wallet) -> Result<Done, JobError> {
    let settings = JobSettings::load(&ctx.pool).await?;
    let address = wallet.address()?;
    // Leftover transfers first, like every job for the wallet; a sync only
    // looks once and does not wait for them.
    match transfers::pass(ctx, wallet.id, job.id, &settings.usdt_contract).await {
        Err(JobError::Retry(refusal)) => tracing::warn!(wallet = %address, "{refusal}"),
        other => {
            other?;
        }
    }
    let trx = ctx.tron.trx_balance(&address).await?;
    let usdt = ctx
        .tron
        .trc20_balance(&settings.usdt_contract, &address)
        .await?;

    let newest = transactions::newest_block_time(&ctx.pool, wallet.id).await?;
    let since = newest.map(|t| (t.timestamp_millis() - OVERLAP_MS).max(0));
    let mut rows = trx_rows(ctx, &address, since).await?;
    rows.extend(usdt_rows(ctx, &address, &settings.usdt_contract, since).await?);
    let stored = transactions::store(&ctx.pool, wallet.id, &rows).await?;
    report_missed(ctx, &address, &stored).await?;

    let to_i64 = |what: &str, v: Option<i64>| {
        v.ok_or_else(|| JobError::Final(format!("{what} balance of {address} overflows")))
    };
    state::record_synced(
        &ctx.pool,
        wallet.id,
        to_i64("TRX", trx.to_i64())?,
        to_i64("USDT", usdt.to_i64())?,
    )
    .await?;
    tracing::info!(wallet = %address, trx = trx.0, usdt = usdt.0, seen = rows.len(), stored = stored.len(),
        "wallet synced");

    auto_consolidate(
        &ctx.pool,
        &settings,
        wallet,
        usdt,
        serde_json::json!({ "requested_by": job.id, "usdt": usdt.0 }),
    )
    .await?;
    Ok(Done::Complete)
}

/// `sync.auto_consolidate`'s rule, for a sync and for the chain follower
/// alike: a deposit wallet holding `usdt`, at least
/// `consolidation.min_usdt` and more than nothing, gets a consolidation
/// queued (or keeps the one it has: one per wallet and type). `data` says
/// who asked. Returns whether one is queued.
pub async fn auto_consolidate(
    pool: &sqlx::PgPool,
    settings: &JobSettings,
    wallet: &Wallet,
    usdt: TokenUnits,
    data: serde_json::Value,
) -> Result<bool, JobError> {
    if !(settings.auto_consolidate
        && wallet.role == WalletRole::Deposit
        && usdt > TokenUnits::ZERO
        && usdt >= settings.min_usdt)
    {
        return Ok(false);
    }
    let mut conn = pool.acquire().await?;
    let queued = queue::enqueue(
        &mut conn,
        &NewJob {
            job_type: JobType::Consolidation,
            wallet_address: Some(wallet.address.clone()),
            wallet_id: Some(wallet.id),
            user_id: wallet.user_id,
            data,
            priority: 0,
            run_at: None,
        },
    )
    .await?;
    tracing::info!(wallet = %wallet.address, job = %queued.job.id, created = queued.created,
        usdt = usdt.0, "consolidation queued (sync.auto_consolidate)");
    Ok(true)
}

/// Per-wallet sync reconciles the chain follower: a transaction this sync
/// stored first whose block lies in the range the follower has recorded
/// is one the follower missed. Logged and reported (health shows it).
async fn report_missed(
    ctx: &Context,
    address: &Address,
    stored: &[transactions::Inserted],
) -> Result<(), JobError> {
    if stored.is_empty() {
        return Ok(());
    }
    let Some((from, to)) = deposits::followed_range(&ctx.pool).await? else {
        return Ok(());
    };
    let missed: Vec<&str> = stored
        .iter()
        .filter(|r| r.block_time.is_some_and(|t| t >= from && t <= to))
        .map(|r| r.tx_id.as_str())
        .collect();
    if missed.is_empty() {
        return Ok(());
    }
    let detail = format!(
        "sync of {address} found {} transaction(s) the chain follower had not recorded: {}",
        missed.len(),
        missed.join(", ")
    );
    tracing::warn!("{detail}");
    deposits::report_missed(&ctx.pool, missed.len() as i64, &detail).await?;
    Ok(())
}

fn block_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

fn amount(v: u64) -> Result<i64, JobError> {
    i64::try_from(v).map_err(|_| JobError::Final(format!("transaction amount {v} overflows")))
}

/// The wallet's confirmed TRX transfers, in and out.
async fn trx_rows(
    ctx: &Context,
    address: &Address,
    since: Option<i64>,
) -> Result<Vec<Row>, JobError> {
    let mut query = ListQuery {
        only_confirmed: true,
        limit: Some(200),
        min_timestamp_ms: since,
        ..Default::default()
    };
    let mut rows = Vec::new();
    loop {
        let page = ctx.tron.v1_transactions(address, &query).await?;
        for t in page.items {
            let Some(Contract::Transfer {
                owner,
                to,
                amount: Sun(sun),
            }) = t.contract
            else {
                continue;
            };
            let direction = if to == *address {
                "in"
            } else if owner == *address {
                "out"
            } else {
                continue;
            };
            rows.push(Row {
                tx_id: t.txid.to_hex(),
                event_index: 0,
                asset: "trx",
                direction,
                from: owner.to_base58(),
                to: to.to_base58(),
                amount: amount(sun)?,
                block_number: i64::try_from(t.block_number).ok(),
                block_time: block_time(t.block_timestamp_ms),
                status: if t.contract_ret.as_deref().is_none_or(|r| r == "SUCCESS") {
                    "confirmed"
                } else {
                    "failed"
                },
            });
        }
        match page.next {
            Some(f) => query.fingerprint = Some(f),
            None => return Ok(rows),
        }
    }
}

/// The wallet's confirmed USDT `Transfer` events, in and out. Several events
/// of one transaction are told apart by their order in the listing.
async fn usdt_rows(
    ctx: &Context,
    address: &Address,
    usdt: &Address,
    since: Option<i64>,
) -> Result<Vec<Row>, JobError> {
    let mut query = ListQuery {
        only_confirmed: true,
        limit: Some(200),
        min_timestamp_ms: since,
        contract_address: Some(*usdt),
        ..Default::default()
    };
    let mut rows: Vec<Row> = Vec::new();
    loop {
        let page = ctx.tron.v1_trc20_transfers(address, &query).await?;
        for t in page.items {
            if t.kind != "Transfer" || t.token != *usdt {
                continue;
            }
            let directions: &[&'static str] = match (t.from == *address, t.to == *address) {
                (true, true) => &["out", "in"],
                (true, false) => &["out"],
                (false, true) => &["in"],
                (false, false) => &[],
            };
            for direction in directions {
                let tx_id = t.txid.to_hex();
                let event_index = rows
                    .iter()
                    .filter(|r| r.tx_id == tx_id && r.direction == *direction)
                    .count() as i32;
                rows.push(Row {
                    tx_id,
                    event_index,
                    asset: "usdt",
                    direction,
                    from: t.from.to_base58(),
                    to: t.to.to_base58(),
                    amount: amount(t.amount.0)?,
                    block_number: None,
                    block_time: block_time(t.block_timestamp_ms),
                    status: "confirmed",
                });
            }
        }
        match page.next {
            Some(f) => query.fingerprint = Some(f),
            None => return Ok(rows),
        }
    }
}
