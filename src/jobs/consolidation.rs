//! `consolidation`: sweeps a deposit wallet's USDT (at least
//! `consolidation.min_usdt`) and its TRX above `consolidation.trx_reserve_sun`
//! to `consolidation.treasury_address` when the funds policy names it (a
//! policy refusal otherwise), else to the policy's first treasury.
//!
//! When the wallet lacks the TRX that the USDT transfer's energy costs, the
//! job queues a gas top-up for the wallet and snoozes (no retry used) until
//! the top-up has landed; a failed top-up fails the consolidation with its
//! reason.

use std::time::Duration;

use uuid::Uuid;

use super::transfers::{self, Asset, Attempt, NewTransfer, Sent, Settled, TransferKind};
use super::{Context, CrashStep, Done, JobError, JobSettings, Wallet, later};
use crate::policy::Rule;
use crate::queue::{self, Job, JobType, Lease, NewJob};
use crate::tron::client::{AccountResource, ChainParameters, ClientError, EnergyEstimate};
use crate::tron::{Address, Contract, RawTransaction, RefBlock, Sun, TokenUnits};

/// Rebuilds after an expired transfer within one attempt before snoozing.
const ROUNDS: usize = 3;
/// Gas top-ups one consolidation waits for before it gives up.
const MAX_TOPUPS: i64 = 3;

pub async fn run(
    ctx: &Context,
    job: &Job,
    lease: &Lease,
    wallet: &Wallet,
) -> Result<Done, JobError> {
    let settings = JobSettings::load(&ctx.pool).await?;
    let owner = wallet.address()?;
    if wallet.role != "deposit" {
        return Err(JobError::Final(format!(
            "only deposit wallets are consolidated; {owner} is a {} wallet",
            wallet.role
        )));
    }
    let treasury = super::choose_address(
        ctx,
        lease.job_id,
        wallet.id,
        ("consolidation.treasury_address", settings.treasury()?),
        &ctx.signer.policy().treasuries,
        Rule::Destination,
    )
    .await?;
    if treasury == owner {
        return Err(JobError::Final(format!(
            "consolidation.treasury_address is this wallet ({owner}) itself"
        )));
    }
    let usdt = settings.usdt_contract;
    let mut attempt = Attempt::default();
    for _ in 0..ROUNDS {
        if transfers::settle(ctx, &mut attempt, wallet.id, lease.job_id, &usdt).await?
            == Settled::Pending
        {
            return Ok(later(transfers::soon(ctx)));
        }

        let balance = ctx.tron.trc20_balance(&usdt, &owner).await?;
        if balance > TokenUnits::ZERO && balance >= settings.min_usdt {
            let params = ctx.tron.chain_parameters().await?;
            let estimate = match ctx
                .tron
                .estimate_trc20_transfer(&owner, &usdt, &treasury, balance)
                .await
            {
                Err(ClientError::Reverted(reason)) => {
                    return Err(JobError::Final(format!(
                        "a USDT transfer of {balance} units from {owner} to {treasury} would revert: {reason}"
                    )));
                }
                other => other?,
            };
            let contract = Contract::trc20_transfer(owner, usdt, treasury, balance);
            let need = usdt_transfer_cost(&estimate, &params, &contract, &settings)?;
            let trx = ctx.tron.trx_balance(&owner).await?;
            if trx < need {
                return wait_for_gas(ctx, job, wallet, need, trx).await;
            }
            let t = NewTransfer {
                wallet_id: wallet.id,
                sender_wallet: wallet.id,
                kind: TransferKind::ConsolidationUsdt,
                asset: Asset::Usdt,
                from: owner,
                to: treasury,
                amount: balance.0,
                contract,
                topup_need: None,
            };
            match transfers::send(ctx, &mut attempt, lease, &settings, t).await? {
                Sent::Pending => return Ok(later(transfers::soon(ctx))),
                Sent::Expired => continue,
                Sent::Landed => {}
            }
        }

        match sweep_trx(ctx, &mut attempt, lease, &settings, wallet, owner, treasury).await? {
            Sent::Pending => return Ok(later(transfers::soon(ctx))),
            Sent::Expired => continue,
            Sent::Landed => {}
        }
        ctx.crash_point(CrashStep::BeforeDone);
        return Ok(Done::Complete);
    }
    Ok(later(transfers::soon(ctx)))
}

/// Sends the TRX above the reserve, keeping what the transfer's own
/// bandwidth (and the treasury's activation, if needed) burns. The same
/// answers as [`transfers::send`]; [`Sent::Landed`] when there was nothing
/// to do.
async fn sweep_trx(
    ctx: &Context,
    attempt: &mut Attempt,
    lease: &Lease,
    settings: &JobSettings,
    wallet: &Wallet,
    owner: Address,
    treasury: Address,
) -> Result<Sent, JobError> {
    let Some(account) = ctx.tron.get_account(&owner).await? else {
        return Ok(Sent::Landed);
    };
    let params = ctx.tron.chain_parameters().await?;
    let resource = ctx.tron.get_account_resource(&owner).await?;
    let treasury_active = ctx.tron.get_account(&treasury).await?.is_some();
    let draft = Contract::Transfer {
        owner,
        to: treasury,
        amount: account.balance,
    };
    let fees = trx_transfer_fees(&draft, &params, &resource, treasury_active, settings)?;
    let keep = settings
        .trx_reserve
        .checked_add(fees)
        .ok_or_else(|| overflow("TRX reserve"))?;
    let Some(amount) = account.balance.checked_sub(keep).filter(|a| *a > Sun::ZERO) else {
        return Ok(Sent::Landed);
    };
    let t = NewTransfer {
        wallet_id: wallet.id,
        sender_wallet: wallet.id,
        kind: TransferKind::ConsolidationTrx,
        asset: Asset::Trx,
        from: owner,
        to: treasury,
        amount: amount.0,
        contract: Contract::Transfer {
            owner,
            to: treasury,
            amount,
        },
        topup_need: None,
    };
    transfers::send(ctx, attempt, lease, settings, t).await
}

fn overflow(what: &str) -> JobError {
    JobError::Final(format!("{what}: amount overflows"))
}

/// Bytes of bandwidth a signed transaction with this contract uses, as the
/// node counts them: the signed protobuf plus the result it stores. A draft
/// with the longest varints stands in for the real one, so this is an upper
/// bound.
pub fn bandwidth_bytes(contract: &Contract, settings: &JobSettings) -> u64 {
    bandwidth_upper_bound(contract, transfers::fee_limit(contract, settings))
}

fn bandwidth_upper_bound(contract: &Contract, fee_limit: Sun) -> u64 {
    // One signature (tag, length, 65 bytes), the raw_data field header, and
    // java-tron's MAX_RESULT_SIZE_IN_TX.
    const SIGNED_OVERHEAD: u64 = 2 + 65 + 3;
    const RESULT_BYTES: u64 = 64;
    let reference = RefBlock {
        number: u64::MAX,
        id: [0xff; 32],
        timestamp_ms: i64::MAX / 4,
    };
    let raw = RawTransaction::new(
        contract.clone(),
        &reference,
        i64::MAX / 4,
        Duration::from_secs(86_400),
        fee_limit,
    );
    raw.encode().len() as u64 + SIGNED_OVERHEAD + RESULT_BYTES
}

/// TRX a USDT transfer burns when the sender has no staked resources: its
/// energy at the current price plus its bandwidth bought with TRX (free
/// bandwidth is not counted on: it may be spent by then).
pub fn usdt_transfer_cost(
    estimate: &EnergyEstimate,
    params: &ChainParameters,
    contract: &Contract,
    settings: &JobSettings,
) -> Result<Sun, JobError> {
    let energy = estimate
        .total()
        .checked_mul(params.energy_fee.0)
        .ok_or_else(|| overflow("energy cost"))?;
    let bandwidth = bandwidth_bytes(contract, settings)
        .checked_mul(params.transaction_fee.0)
        .ok_or_else(|| overflow("bandwidth cost"))?;
    energy
        .checked_add(bandwidth)
        .map(Sun)
        .ok_or_else(|| overflow("USDT transfer cost"))
}

/// TRX a TRX transfer burns besides its amount: bandwidth unless the free
/// bandwidth covers it, or the account-creation fees when the recipient is
/// new.
fn trx_transfer_fees(
    contract: &Contract,
    params: &ChainParameters,
    resource: &AccountResource,
    recipient_active: bool,
    settings: &JobSettings,
) -> Result<Sun, JobError> {
    if !recipient_active {
        return params
            .create_account_fee
            .checked_add(params.create_new_account_fee_in_system_contract)
            .ok_or_else(|| overflow("activation fee"));
    }
    let bytes = bandwidth_bytes(contract, settings);
    if resource.free_net_available() >= bytes {
        return Ok(Sun::ZERO);
    }
    bytes
        .checked_mul(params.transaction_fee.0)
        .map(Sun)
        .ok_or_else(|| overflow("bandwidth cost"))
}

/// Queues a gas top-up for the wallet and snoozes until it has landed; fails
/// when a top-up for this consolidation failed, or after [`MAX_TOPUPS`]
/// completed top-ups left the wallet short.
async fn wait_for_gas(
    ctx: &Context,
    job: &Job,
    wallet: &Wallet,
    need: Sun,
    have: Sun,
) -> Result<Done, JobError> {
    let topups: Vec<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, status, error_message FROM job_logs
          WHERE job_type = 'gas-topup' AND (wallet_id = $1 OR wallet_address = $2)
            AND created_at >= coalesce($3, '-infinity'::timestamptz)
          ORDER BY created_at DESC",
    )
    .bind(wallet.id)
    .bind(&wallet.address)
    .bind(job.created_at)
    .fetch_all(&ctx.pool)
    .await?;
    if let Some((id, Some(status), error)) = topups.first()
        && (status == "failed" || status == "cancelled")
    {
        return Err(JobError::Final(format!(
            "the gas top-up this consolidation needs ({need} SUN, the wallet holds {have}) \
             was {status} (job {id}): {}",
            error.as_deref().unwrap_or("no message")
        )));
    }
    let completed = topups
        .iter()
        .filter(|(_, s, _)| s.as_deref() == Some("completed"))
        .count() as i64;
    if completed >= MAX_TOPUPS {
        return Err(JobError::Final(format!(
            "still short of TRX for the USDT transfer after {completed} gas top-ups: \
             needs {need} SUN, holds {have}"
        )));
    }
    let mut conn = ctx.pool.acquire().await?;
    let topup = queue::enqueue(
        &mut conn,
        &NewJob {
            job_type: JobType::GasTopup,
            wallet_address: Some(wallet.address.clone()),
            wallet_id: Some(wallet.id),
            user_id: wallet.user_id,
            data: serde_json::json!({ "requested_by": job.id, "need_sun": need.0 }),
            priority: job.priority,
            run_at: None,
        },
    )
    .await?;
    tracing::info!(
        wallet = %wallet.address, need = need.0, have = have.0, topup = %topup.job.id,
        "waiting for a gas top-up"
    );
    Ok(later(std::time::Duration::from_secs(2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tron::PrivateKey;

    #[test]
    fn the_bandwidth_bound_covers_the_signed_transaction_and_stays_close() {
        let key = PrivateKey::from_bytes(&[7u8; 32]).unwrap();
        let owner = key.address();
        let to = PrivateKey::from_bytes(&[9u8; 32]).unwrap().address();
        let usdt: Address = crate::tron::sim::MAINNET_USDT.parse().unwrap();
        let reference = RefBlock {
            number: 66_987_627,
            id: [0x3c; 32],
            timestamp_ms: 1_764_000_000_000,
        };
        for (contract, fee_limit) in [
            (
                Contract::Transfer {
                    owner,
                    to,
                    amount: Sun(1),
                },
                Sun::ZERO,
            ),
            (
                Contract::Transfer {
                    owner,
                    to,
                    amount: Sun(u64::MAX / 2),
                },
                Sun::ZERO,
            ),
            (
                Contract::trc20_transfer(owner, usdt, to, TokenUnits(123_456_789)),
                Sun(100_000_000),
            ),
        ] {
            let signed = RawTransaction::new(
                contract.clone(),
                &reference,
                1_764_000_000_500,
                Duration::from_secs(60),
                fee_limit,
            )
            .sign(&key);
            let actual = signed.encode().len() as u64 + 64;
            let bound = bandwidth_upper_bound(&contract, fee_limit);
            assert!(bound >= actual, "{bound} < {actual}");
            assert!(bound <= actual + 40, "{bound} is far above {actual}");
        }
    }
}
