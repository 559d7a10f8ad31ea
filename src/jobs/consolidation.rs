//! `consolidation`: sweeps a deposit wallet's USDT (at least
//! `consolidation.min_usdt`) and its TRX above `consolidation.trx_reserve_sun`
//! to `consolidation.treasury_address` when the funds policy names it (a
//! policy refusal otherwise), else to the policy's first treasury.
//!
//! In `gas.mode` burn, when the wallet lacks the TRX that the USDT
//! transfer's energy costs, the job queues a gas top-up for the wallet and
//! snoozes (no retry used) until the top-up has landed; a failed top-up
//! fails the consolidation with its reason. In delegate and auto, the
//! energy pool lends the energy first ([`energy::lend`]; a top-up brings
//! only bandwidth, when needed). Whatever the mode, the pool's delegation
//! to the wallet is taken back before the job ends ([`energy::reclaim`]).

use super::energy::{self, Lent};

use super::fees;
use super::transfers::{self, Asset, Attempt, NewTransfer, Sent, Settled, TransferKind};
use super::{Context, CrashStep, Done, JobError, JobSettings, Wallet, later};
use crate::policy::Rule;
use crate::queue::{self, Job, JobStatus, JobType, Lease, NewJob};
use crate::settings::GasMode;
use crate::tron::client::ClientError;
use crate::tron::{Address, Contract, Sun, TokenUnits};

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
    if wallet.role != crate::wallets::WalletRole::Deposit {
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
                        "a USDT transfer of {} from {owner} to {treasury} would revert: {reason}",
                        balance.usdt()
                    )));
                }
                other => other?,
            };
            let contract = Contract::trc20_transfer(owner, usdt, treasury, balance);
            let burn = match settings.gas_mode {
                GasMode::Burn => true,
                GasMode::Delegate | GasMode::Auto => match energy::lend(
                    ctx,
                    &mut attempt,
                    lease,
                    &settings,
                    wallet,
                    &estimate,
                    &params,
                    &contract,
                )
                .await?
                {
                    Lent::Ready => false,
                    Lent::Burn => true,
                    Lent::NeedTrx(need) => {
                        let trx = ctx.tron.trx_balance(&owner).await?;
                        return wait_for_gas(ctx, job, wallet, need, trx, Topup::BandwidthOnly)
                            .await;
                    }
                    Lent::Wait(done) => return Ok(done),
                    Lent::Sent(Sent::Expired) => continue,
                    Lent::Sent(_) => return Ok(later(transfers::soon(ctx))),
                },
            };
            if burn {
                let need = fees::usdt_transfer_cost(&estimate, &params, &contract, &settings)?;
                let trx = ctx.tron.trx_balance(&owner).await?;
                if trx < need {
                    return wait_for_gas(ctx, job, wallet, need, trx, Topup::Full).await;
                }
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

        // Before the TRX sweep: taking energy back costs the wallet nothing,
        // and a job never ends with the pool's energy still lent.
        match energy::reclaim(ctx, &mut attempt, lease, &settings, wallet).await? {
            Sent::Pending => return Ok(later(transfers::soon(ctx))),
            Sent::Expired => continue,
            Sent::Landed => {}
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
    let fees = fees::trx_transfer_fees(
        &draft,
        &params,
        resource.free_net_available(),
        treasury_active,
        settings,
    )?;
    let keep = settings
        .trx_reserve
        .checked_add(fees)
        .ok_or_else(|| fees::overflow("TRX reserve"))?;
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

/// What a top-up brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topup {
    /// The TRX the USDT transfer burns: energy and bandwidth.
    Full,
    /// Bandwidth only (the pool lends the energy), activating a new address.
    BandwidthOnly,
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
    topup: Topup,
) -> Result<Done, JobError> {
    let topups = queue::of_wallet_since(
        &ctx.pool,
        JobType::GasTopup,
        wallet.id,
        &wallet.address,
        job.created_at,
    )
    .await?;
    if let Some(last) = topups.first()
        && let Some(status @ (JobStatus::Failed | JobStatus::Cancelled)) = last.status
    {
        return Err(JobError::Final(format!(
            "the gas top-up this consolidation needs ({need}, the wallet holds {have}) \
             was {status} (job {}): {}",
            last.id,
            last.error_message.as_deref().unwrap_or("no message")
        )));
    }
    let completed = topups
        .iter()
        .filter(|t| t.status == Some(JobStatus::Completed))
        .count() as i64;
    if completed >= MAX_TOPUPS {
        return Err(JobError::Final(format!(
            "still short of TRX for the USDT transfer after {completed} gas top-ups: \
             needs {need}, holds {have}"
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
            data: serde_json::json!({
                "requested_by": job.id,
                "need_sun": need.0,
                super::gas_topup::BANDWIDTH_ONLY: topup == Topup::BandwidthOnly,
            }),
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
