//! The energy pool: an `energy` wallet stakes TRX for energy (Stake 2.0)
//! and lends it to a deposit wallet just before the wallet's USDT sweep,
//! then takes it back, so that the sweep burns (almost) no TRX
//! (`gas.mode` delegate or auto).
//!
//! Staking, lending and taking back are transfers like the others
//! ([`super::transfers`]): signed once through the signer and its policy
//! (lending only unlocked, only ENERGY, only to our deposit wallets; taking
//! back from anyone), recorded before the broadcast, resolved by txID. A
//! lending is recorded against the deposit wallet (at most one unresolved
//! per wallet and kind), so a crash between lending and taking back leaves
//! a record that the wallet's next job settles first.
//!
//! - [`lend`]: before a sweep. Activation and bandwidth first (a gas
//!   top-up of the bandwidth's price activates a new address and pays for
//!   bandwidth the free allowance does not cover), then just enough stake
//!   for the estimated energy plus `energy.margin_percent`, priced from the
//!   network's total energy weight and limit. A short pool makes the job
//!   wait (delegate) or burn within `gas.daily_burn_cap_sun` (auto); the
//!   job's row says which and why ([`crate::queue::note`]).
//! - [`reclaim`]: after the sweep, and in every consolidation of the
//!   wallet, sweep or not: nothing stays lent once a job ends.
//! - [`reclaim_orphans`]: the maintenance leader lists every delegation of
//!   the pool and takes back those with no sweep in flight; its records
//!   carry no job and are guarded by the leader lease and the wallet's row
//!   lock ([`Maker::Leader`]).
//! - [`stake`]: `walletops energy stake`, an admin's audited action whose
//!   record carries no job; one unresolved stake per energy wallet.

use std::time::Duration;

use uuid::Uuid;

use super::fees;
use super::transfers::{self, Attempt, Maker, NewTransfer, Resolution, Sent};
use super::{Context, Done, JobError, JobSettings, Wallet, later};
use crate::queue::Lease;
use crate::settings::GasMode;
use crate::transfers::{self as store, Asset, TransferKind, TransferStatus};
use crate::tron::client::{ChainParameters, EnergyEstimate};
use crate::tron::tx::Resource;
use crate::tron::{Address, Contract, Sun};
use crate::wallets::lookup::{self, EnergyPool};

/// The node's smallest delegation and stake.
pub const MIN_STAKE: Sun = Sun::from_trx(1);

/// How long a sweep waits before it looks at a short pool again.
const POOL_WAIT: Duration = Duration::from_secs(15);

/// The energy wallet that signs: chosen as [`lookup::energy_pool`] says,
/// an energy wallet of the funds policy, with an active stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWallet {
    pub id: Uuid,
    pub address: Address,
}

/// The pool the jobs use; an error saying what to fix when there is none.
pub async fn pool_wallet(ctx: &Context, settings: &JobSettings) -> Result<PoolWallet, JobError> {
    let EnergyPool { id, address } = lookup::energy_pool(&ctx.pool, settings.energy_wallet()?)
        .await
        .map_err(|e| match e {
            lookup::PoolError::Db(e) => JobError::Db(e),
            other => JobError::Final(other.to_string()),
        })?;
    let policy = ctx.signer.policy();
    if !policy.is_energy_wallet(&address) {
        return Err(JobError::Final(format!(
            "energy wallet {address} is not among the funds policy's energy_wallets: add it to \
             the policy on the signing host, or choose another with energy.wallet_address"
        )));
    }
    let id = id.ok_or_else(|| {
        JobError::Final(format!(
            "energy wallet {address} has no active stored key: import it with \
             `walletops wallet import --role energy` and have a second admin approve it"
        ))
    })?;
    Ok(PoolWallet { id, address })
}

/// What [`lend`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lent {
    /// The wallet has the energy: sweep.
    Ready,
    /// Burn TRX for the energy instead (auto mode, within the daily cap).
    Burn,
    /// The wallet needs TRX first, for bandwidth (and a never-activated
    /// address to be activated): a gas top-up of this much.
    NeedTrx(Sun),
    /// Not now: the job waits (no retry used).
    Wait(Done),
    /// The delegation is on its way, or expired unsent.
    Sent(Sent),
}

/// Readies `owner` for the USDT transfer `contract` (see the module
/// documentation); `mode` is delegate or auto.
#[allow(clippy::too_many_arguments)]
pub async fn lend(
    ctx: &Context,
    attempt: &mut Attempt,
    lease: &Lease,
    settings: &JobSettings,
    wallet: &Wallet,
    estimate: &EnergyEstimate,
    params: &ChainParameters,
    contract: &Contract,
) -> Result<Lent, JobError> {
    let owner = wallet.address()?;
    let pool = pool_wallet(ctx, settings).await?;
    let bytes = fees::bandwidth_bytes(contract, settings);
    let bandwidth_price = fees::bandwidth_cost(contract, params, settings)?;
    let Some(account) = ctx.tron.get_account(&owner).await? else {
        note(
            ctx,
            lease,
            &format!(
                "deposit address {owner} was never activated: a gas top-up of {bandwidth_price} \
                 activates it (the gas wallet pays the activation fee; delegation needs an \
                 activated receiver)"
            ),
        )
        .await;
        return Ok(Lent::NeedTrx(bandwidth_price));
    };
    let resource = ctx.tron.get_account_resource(&owner).await?;
    let bandwidth = resource
        .free_net_available()
        .saturating_add(resource.net_limit.saturating_sub(resource.net_used));
    if bandwidth < bytes && account.balance < bandwidth_price {
        note(
            ctx,
            lease,
            &format!(
                "the wallet's bandwidth ({bandwidth} bytes left today) does not cover the \
                 transfer's {bytes} bytes: burning {bandwidth_price} of TRX for it is cheaper \
                 than lending bandwidth, so a gas top-up brings it"
            ),
        )
        .await;
        return Ok(Lent::NeedTrx(bandwidth_price));
    }

    let needed = settings.energy_with_margin(estimate.total());
    if resource.energy_available() >= needed {
        return Ok(Lent::Ready);
    }
    let stake = ctx.tron.stake_v2(&owner).await?;
    let have = stake
        .frozen
        .energy
        .checked_add(stake.acquired.energy)
        .ok_or_else(|| fees::overflow("stake"))?;
    let target = resource
        .stake_for_energy(resource.energy_used.saturating_add(needed))
        .ok_or_else(|| {
            JobError::Final(format!(
                "cannot price {needed} energy in staked TRX: the node reports TotalEnergyLimit {} \
                 and TotalEnergyWeight {}",
                resource.total_energy_limit, resource.total_energy_weight
            ))
        })?;
    let Some(extra) = target.checked_sub(have).filter(|e| *e > Sun::ZERO) else {
        return Ok(Lent::Ready);
    };
    let extra = extra.max(MIN_STAKE);
    let can = ctx
        .tron
        .can_delegated_max_size(&pool.address, Resource::Energy)
        .await?;
    if can < extra {
        let short = format!(
            "the energy pool {} can lend {can} of stake now; this sweep needs {extra} \
             ({needed} energy)",
            pool.address
        );
        return short_pool(ctx, lease, settings, estimate, params, short).await;
    }
    let t = NewTransfer {
        wallet_id: wallet.id,
        sender_wallet: pool.id,
        kind: TransferKind::EnergyDelegate,
        asset: Asset::Trx,
        from: pool.address,
        to: owner,
        amount: extra.0,
        contract: Contract::DelegateResource {
            owner: pool.address,
            resource: Resource::Energy,
            balance: extra,
            receiver: owner,
            lock: false,
            lock_period: 0,
        },
        topup_need: None,
    };
    Ok(
        match transfers::send(ctx, attempt, lease, settings, t).await? {
            Sent::Landed => Lent::Ready,
            other => Lent::Sent(other),
        },
    )
}

/// The pool cannot lend enough: delegate mode waits; auto burns within the
/// daily cap, else waits. The job's row says which and why.
async fn short_pool(
    ctx: &Context,
    lease: &Lease,
    settings: &JobSettings,
    estimate: &EnergyEstimate,
    params: &ChainParameters,
    short: String,
) -> Result<Lent, JobError> {
    let wait = |why: String| async move {
        note(ctx, lease, &why).await;
        Ok(Lent::Wait(later(POOL_WAIT)))
    };
    if settings.gas_mode != GasMode::Auto {
        return wait(format!(
            "waiting: {short}; gas.mode is delegate, so the sweep waits until the pool's energy \
             recovers or more TRX is staked (`walletops energy status`)"
        ))
        .await;
    }
    let burned = Sun(store::energy_burned_today(&ctx.pool).await?);
    let cost = estimate
        .total()
        .checked_mul(params.energy_fee.0)
        .map(Sun)
        .ok_or_else(|| fees::overflow("energy cost"))?;
    let cap = settings.daily_burn_cap;
    if burned.checked_add(cost).is_some_and(|total| total <= cap) {
        note(
            ctx,
            lease,
            &format!(
                "{short}: burning about {cost} of TRX for this sweep instead (gas.mode auto; \
                 {burned} burned today of gas.daily_burn_cap_sun {cap})"
            ),
        )
        .await;
        return Ok(Lent::Burn);
    }
    wait(format!(
        "waiting: {short}, and burning about {cost} would pass gas.daily_burn_cap_sun {cap} \
         ({burned} burned today)"
    ))
    .await
}

/// Writes the decision into the job's row (and the log); a failure to
/// write it is logged, not fatal: the decision stands.
async fn note(ctx: &Context, lease: &Lease, message: &str) {
    tracing::info!(job_id = %lease.job_id, "{message}");
    if let Err(e) = crate::queue::note(&ctx.pool, lease, message).await {
        tracing::warn!(job_id = %lease.job_id, error = %e, "cannot note the job's decision");
    }
}

/// Staked SUN of `pool` lent to `receiver` now (energy).
async fn lent_to(ctx: &Context, pool: &Address, receiver: &Address) -> Result<Sun, JobError> {
    let mut sum = Sun::ZERO;
    for d in ctx.tron.delegated_resource_v2(pool, receiver).await? {
        sum = sum
            .checked_add(d.frozen.energy)
            .ok_or_else(|| fees::overflow("delegation"))?;
    }
    Ok(sum)
}

fn reclaim_transfer(
    pool: &PoolWallet,
    wallet_id: Uuid,
    receiver: Address,
    amount: Sun,
) -> NewTransfer {
    NewTransfer {
        wallet_id,
        sender_wallet: pool.id,
        kind: TransferKind::EnergyReclaim,
        asset: Asset::Trx,
        from: pool.address,
        to: receiver,
        amount: amount.0,
        contract: Contract::UnDelegateResource {
            owner: pool.address,
            resource: Resource::Energy,
            balance: amount,
            receiver,
        },
        topup_need: None,
    }
}

/// Takes back whatever the pool lends to the wallet; [`Sent::Landed`] when
/// nothing is lent. Nothing to do without energy wallets in the policy, or,
/// in burn mode, without a usable pool.
pub async fn reclaim(
    ctx: &Context,
    attempt: &mut Attempt,
    lease: &Lease,
    settings: &JobSettings,
    wallet: &Wallet,
) -> Result<Sent, JobError> {
    if ctx.signer.policy().energy_wallets.is_empty() {
        return Ok(Sent::Landed);
    }
    let pool = match pool_wallet(ctx, settings).await {
        Err(JobError::Final(reason)) if settings.gas_mode == GasMode::Burn => {
            tracing::debug!("no energy pool to take delegations back for: {reason}");
            return Ok(Sent::Landed);
        }
        other => other?,
    };
    let owner = wallet.address()?;
    let lent = lent_to(ctx, &pool.address, &owner).await?;
    if lent == Sun::ZERO {
        return Ok(Sent::Landed);
    }
    let t = reclaim_transfer(&pool, wallet.id, owner, lent);
    transfers::send(ctx, attempt, lease, settings, t).await
}

/// The maintenance leader's look (see the module documentation): every
/// delegation of the pool whose receiver has no sweep in flight is taken
/// back. Returns how many reclaims it broadcast. Its records are resolved
/// like those of dead jobs, or by the receiver's next job.
pub async fn reclaim_orphans(ctx: &Context, leader: Uuid) -> Result<usize, JobError> {
    if ctx.signer.policy().energy_wallets.is_empty() {
        return Ok(0);
    }
    let settings = JobSettings::load(&ctx.pool).await?;
    let pool = match pool_wallet(ctx, &settings).await {
        Err(JobError::Final(_)) => return Ok(0),
        other => other?,
    };
    let index = ctx.tron.delegated_resource_index_v2(&pool.address).await?;
    let mut attempt = Attempt::default();
    let mut sent = 0;
    for receiver in index.to_accounts {
        let lent = lent_to(ctx, &pool.address, &receiver).await?;
        if lent == Sun::ZERO {
            continue;
        }
        // A receiver that is no wallet of ours is recorded against the pool.
        let wallet_id = match lookup::activation(&ctx.pool, &receiver).await? {
            Some((id, _)) => id,
            None => pool.id,
        };
        let t = reclaim_transfer(&pool, wallet_id, receiver, lent);
        let rec = match transfers::create(ctx, Maker::Leader(leader), &settings, t).await {
            Ok(rec) => rec,
            // A sweep in flight, or a reclaim already on its way.
            Err(JobError::Retry(why)) => {
                tracing::debug!(%receiver, "delegation left alone: {why}");
                continue;
            }
            Err(e) => return Err(e),
        };
        tracing::warn!(%receiver, amount = lent.0, tx_id = %rec.tx_id,
            "taking back a delegation no sweep uses");
        transfers::broadcast(ctx, &mut attempt, &rec).await?;
        sent += 1;
    }
    Ok(sent)
}

/// What [`stake`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Staked {
    pub energy_wallet: String,
    pub tx_id: String,
    pub amount_sun: i64,
    pub status: TransferStatus,
    /// True when this was an earlier stake left unresolved (its command
    /// died): it was resolved, and nothing new was staked.
    pub earlier: bool,
}

/// Stakes `amount` of the pool's TRX for energy, as an admin (`token` over
/// the API; the database checks the right when it writes the audit row,
/// in the record's transaction), then waits up to `ctx.wait` for the chain.
/// An earlier stake still unresolved is resolved instead (broadcast again
/// while it can land): a second command never stakes twice by accident.
pub async fn stake(ctx: &Context, amount: Sun, token: Option<&str>) -> Result<Staked, JobError> {
    if amount < MIN_STAKE {
        return Err(JobError::Final(format!(
            "stake at least {MIN_STAKE} (the node's minimum), not {amount}"
        )));
    }
    let settings = JobSettings::load(&ctx.pool).await?;
    let pool = pool_wallet(ctx, &settings).await?;
    let usdt = settings.usdt_contract;
    let mut attempt = Attempt::default();
    let earlier = store::unresolved(&ctx.pool, pool.id)
        .await?
        .into_iter()
        .find(|r| r.kind == TransferKind::EnergyStake);
    let (rec, earlier) = match earlier {
        Some(rec) => (rec, true),
        None => {
            let balance = ctx.tron.trx_balance(&pool.address).await?;
            if balance < amount {
                return Err(JobError::Final(format!(
                    "energy wallet {} holds {balance}, less than the {amount} to stake",
                    pool.address
                )));
            }
            let t = NewTransfer {
                wallet_id: pool.id,
                sender_wallet: pool.id,
                kind: TransferKind::EnergyStake,
                asset: Asset::Trx,
                from: pool.address,
                to: pool.address,
                amount: amount.0,
                contract: Contract::FreezeBalanceV2 {
                    owner: pool.address,
                    frozen_balance: amount,
                    resource: Resource::Energy,
                },
                topup_need: None,
            };
            let maker = Maker::Operator {
                action: "energy.stake",
                token,
            };
            let rec = transfers::create(ctx, maker, &settings, t).await?;
            if let transfers::Broadcast::Refused(reason) =
                transfers::broadcast(ctx, &mut attempt, &rec).await?
            {
                return Err(JobError::Final(reason));
            }
            (rec, false)
        }
    };
    let deadline = tokio::time::Instant::now() + ctx.wait;
    let status = loop {
        match transfers::resolve(ctx, &mut attempt, &rec, &usdt).await? {
            Resolution::Confirmed => break TransferStatus::Confirmed,
            Resolution::Failed(reason) => return Err(JobError::Final(reason)),
            Resolution::Expired => break TransferStatus::Expired,
            Resolution::Pending { .. } if tokio::time::Instant::now() >= deadline => {
                break store::status(&ctx.pool, rec.id).await?;
            }
            Resolution::Pending { .. } => tokio::time::sleep(ctx.poll).await,
        }
    };
    Ok(Staked {
        energy_wallet: pool.address.to_base58(),
        tx_id: rec.tx_id,
        amount_sun: rec.amount,
        status,
        earlier,
    })
}
