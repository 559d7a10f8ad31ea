//! `gas-topup`: TRX from the gas wallet to a deposit wallet, enough for one
//! USDT transfer.
//!
//! The gas wallet is `gas.wallet_address` when the funds policy names it
//! (a policy refusal otherwise), else the policy's first; the recipient must
//! be a deposit wallet, and the signer checks that its stored key derives
//! its address. The wallet needs the energy of that transfer (estimated on
//! chain now) at the current energy price, plus its bandwidth. The amount
//! sent is what is missing, plus the activation fee when the address was
//! never activated; or `gas.topup_sun` when it is set, which the policy
//! refuses above the estimated need plus its margin. Nothing is sent when
//! the wallet already holds enough. The gas wallet refuses (a final
//! failure) when its balance is below `gas.min_balance_sun` or below what
//! the top-up costs it.
//!
//! A top-up asked for with `"bandwidth_only": true` in its data (a sweep
//! whose energy the energy pool lends) brings only the transfer's
//! bandwidth, and activates a never-used address.
//!
//! A duplicate top-up would succeed silently, so it follows the same
//! transfer-record protocol as a sweep: the record is per deposit wallet.

use super::fees;
use super::transfers::{self, Asset, Attempt, NewTransfer, Sent, Settled, TransferKind};
use super::{Context, CrashStep, Done, JobError, JobSettings, Wallet, later};
use crate::policy::{Refusal, Rule};
use crate::queue::{Job, Lease};
use crate::tron::client::ClientError;
use crate::tron::{Contract, Sun};

/// Rebuilds after an expired transfer within one attempt before snoozing.
const ROUNDS: usize = 3;

/// The job data flag of a top-up for bandwidth only.
pub const BANDWIDTH_ONLY: &str = "bandwidth_only";

pub async fn run(
    ctx: &Context,
    job: &Job,
    lease: &Lease,
    wallet: &Wallet,
) -> Result<Done, JobError> {
    let settings = JobSettings::load(&ctx.pool).await?;
    let bandwidth_only = job
        .data
        .as_ref()
        .and_then(|d| d.get(BANDWIDTH_ONLY))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let target = wallet.address()?;
    if wallet.role != crate::wallets::WalletRole::Deposit {
        let refusal = Refusal {
            rule: Rule::Recipient,
            message: format!(
                "gas top-ups go only to deposit wallets; {target} is a {} wallet",
                wallet.role
            ),
        };
        return Err(super::refused(ctx, Some(lease.job_id), Some(wallet.id), refusal).await);
    }
    let policy = ctx.signer.policy();
    let gas = super::choose_address(
        ctx,
        lease.job_id,
        wallet.id,
        ("gas.wallet_address", settings.gas_wallet()?),
        &policy.gas_wallets,
        Rule::Sender,
    )
    .await?;
    if gas == target {
        return Err(JobError::Final(format!(
            "{target} is the gas wallet itself: it is not topped up"
        )));
    }
    // The energy is estimated towards where the sweep will go.
    let to = match settings.treasury()? {
        Some(t) if policy.is_treasury(&t) => t,
        _ => policy.treasuries.first().copied().unwrap_or(gas),
    };
    let usdt = settings.usdt_contract;
    let gas_wallet = active_gas_wallet(ctx, &gas).await?;
    let mut attempt = Attempt::default();
    for _ in 0..ROUNDS {
        if transfers::settle(ctx, &mut attempt, wallet.id, lease.job_id, &usdt).await?
            == Settled::Pending
        {
            return Ok(later(transfers::soon(ctx)));
        }
        // A job whose top-up already landed (it died before it was marked
        // done) is done: the wallet may have spent that TRX since, and
        // looking at its balance again would send a second top-up.
        if transfers::landed(ctx, lease.job_id, TransferKind::GasTopup).await? {
            tracing::info!(wallet = %target, "this job's gas top-up already landed");
            return Ok(Done::Complete);
        }
        let account = ctx.tron.get_account(&target).await?;
        let balance = account.as_ref().map_or(Sun::ZERO, |a| a.balance);
        let params = ctx.tron.chain_parameters().await?;
        let usdt_balance = ctx.tron.trc20_balance(&usdt, &target).await?;
        let estimate = match ctx
            .tron
            .estimate_trc20_transfer(&target, &usdt, &to, usdt_balance)
            .await
        {
            Err(ClientError::Reverted(reason)) => {
                return Err(JobError::Final(format!(
                    "cannot estimate the energy of a USDT transfer from {target}: the call reverts: {reason}"
                )));
            }
            other => other?,
        };
        let usdt_contract = Contract::trc20_transfer(target, usdt, to, usdt_balance);
        let need = if bandwidth_only {
            fees::bandwidth_cost(&usdt_contract, &params, &settings)?
        } else {
            fees::usdt_transfer_cost(&estimate, &params, &usdt_contract, &settings)?
        };
        if balance >= need {
            tracing::info!(wallet = %target, balance = balance.0, need = need.0,
                "gas top-up skipped: the wallet already holds enough");
            return Ok(Done::Complete);
        }
        let activation = if account.is_none() {
            params.create_new_account_fee_in_system_contract
        } else {
            Sun::ZERO
        };
        let amount = if settings.topup > Sun::ZERO {
            settings.topup
        } else {
            need.checked_sub(balance)
                .and_then(|missing| missing.checked_add(activation))
                .ok_or_else(|| JobError::Final("top-up amount overflows".into()))?
        };
        // What one USDT transfer costs a wallet starting from nothing: the
        // policy refuses a top-up above it plus its margin.
        let topup_need = need
            .checked_add(activation)
            .ok_or_else(|| JobError::Final("top-up need overflows".into()))?;

        let contract = Contract::Transfer {
            owner: gas,
            to: target,
            amount,
        };
        // What the gas wallet pays besides the amount: the account creation
        // when the target is new, else the transfer's bandwidth (its free
        // bandwidth is not counted on: every top-up draws on it).
        let fees = fees::trx_transfer_fees(&contract, &params, 0, account.is_some(), &settings)?;
        let cost = amount
            .checked_add(fees)
            .ok_or_else(|| JobError::Final("top-up cost overflows".into()))?;
        let gas_balance = ctx.tron.trx_balance(&gas).await?;
        if gas_balance < settings.gas_min_balance {
            return Err(JobError::Final(format!(
                "gas wallet {gas} holds {gas_balance}, below gas.min_balance_sun \
                 {}: refill it before top-ups can run",
                settings.gas_min_balance
            )));
        }
        if gas_balance < cost {
            return Err(JobError::Final(format!(
                "gas wallet {gas} holds {gas_balance}, less than the top-up of {amount} \
                 plus {fees} of fees: refill it"
            )));
        }

        let Some(gas_wallet) = gas_wallet else {
            return Err(JobError::Final(format!(
                "gas wallet {gas} has no stored key: import it with \
                 `walletops wallet import --role gas`"
            )));
        };
        let t = NewTransfer {
            wallet_id: wallet.id,
            sender_wallet: gas_wallet,
            kind: TransferKind::GasTopup,
            asset: Asset::Trx,
            from: gas,
            to: target,
            amount: amount.0,
            contract,
            topup_need: Some(topup_need),
        };
        match transfers::send(ctx, &mut attempt, lease, &settings, t).await? {
            Sent::Pending => return Ok(later(transfers::soon(ctx))),
            Sent::Expired => continue,
            Sent::Landed => {
                ctx.crash_point(CrashStep::BeforeDone);
                return Ok(Done::Complete);
            }
        }
    }
    Ok(later(transfers::soon(ctx)))
}

/// The gas wallet's row id, looked up once per attempt. A gas wallet whose
/// key waits for a second admin's approval (migration 0010) pays nothing;
/// the refusal names its open activation proposal. A wallet without a row
/// is `None`, left to the top-up itself, which says so.
async fn active_gas_wallet(
    ctx: &Context,
    gas: &crate::tron::Address,
) -> Result<Option<uuid::Uuid>, JobError> {
    let Some((id, active)) = crate::wallets::lookup::activation(&ctx.pool, gas).await? else {
        return Ok(None);
    };
    if active {
        return Ok(Some(id));
    }
    match crate::settings::proposals::open_activation(&ctx.pool, gas).await? {
        Some(id) => Err(JobError::Final(format!(
            "gas wallet {gas} is not active: its key waits for activation proposal {id} \
             (a second admin approves it with `walletops config approve {id}`; it takes \
             effect after policy.change_delay_seconds)"
        ))),
        None => Err(JobError::Final(format!(
            "gas wallet {gas} is not active and no activation proposal is open (it was \
             cancelled): import another gas key, or point gas.wallet_address at an active one"
        ))),
    }
}
