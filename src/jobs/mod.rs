//! The three wallet jobs — sync, gas top-up, consolidation — the energy
//! pool that lends sweeps their energy ([`energy`]), and the
//! transfer-record protocol that keeps funds from ever moving twice.
//!
//! Every handler:
//! 1. finds its wallet and takes the wallet's processing flag for the job's
//!    lease ([`processing`]); a flag left by a job that no longer runs, or by
//!    an earlier attempt of the same job, is taken over;
//! 2. resolves the wallet's unresolved transfers first, whichever job made
//!    them ([`transfers::settle`]; a sync looks once and does not wait);
//! 3. does its work, signing each transfer once and committing its record
//!    before the broadcast;
//! 4. clears the flag, whatever the outcome.
//!
//! The engine runs them through `engine::wallet_jobs`; this module knows the
//! queue only to read a job and to enqueue follow-up jobs.

pub mod consolidation;
pub mod energy;
pub mod fees;
pub mod follower;
pub mod gas_topup;
pub mod pool_watch;
pub mod processing;
pub mod schedule;
pub mod sync;
pub mod transfers;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit;
use crate::policy::{Refusal, Rule};
use crate::queue::{Job, JobType, Lease, Outcome};
use crate::signer::Signer;
use crate::transfers::access;
use crate::tron::Address;
use crate::tron::client::{ClientError, ErrorClass, TronClient};
use crate::wallets::{self, WalletError, WalletInfo, WalletRole};

pub use crate::settings::JobSettings;
pub use transfers::resolve_dead_letters;

/// What the handlers share: the database, the node, the signer (which
/// holds the funds policy, and the master key when it is local).
pub struct Context {
    pub pool: PgPool,
    pub tron: TronClient,
    pub signer: Signer,
    /// How often to look at the chain while waiting for a transfer.
    pub poll: Duration,
    /// How long one attempt waits for its transfers before it snoozes.
    pub wait: Duration,
    /// Tests only: the step at which the process kills itself.
    pub crash_at: Option<CrashStep>,
}

impl Context {
    pub fn new(pool: PgPool, tron: TronClient, signer: Signer) -> Self {
        Self {
            pool,
            tron,
            signer,
            poll: Duration::from_secs(3),
            wait: Duration::from_secs(120),
            crash_at: None,
        }
    }

    /// Kills the process with SIGKILL when `step` is the configured crash
    /// step: the crash-safety tests' way of dying at an exact point.
    fn crash_point(&self, step: CrashStep) {
        if self.crash_at == Some(step) {
            tracing::error!(step = step.as_str(), "test crash step reached: SIGKILL");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Named points of a transfer where the crash-safety tests kill the worker
/// (hidden `walletops worker --test-crash-at STEP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashStep {
    /// The transfer is signed and its record committed; not yet broadcast.
    AfterSign,
    /// The node took the broadcast; its outcome is not yet known.
    AfterBroadcast,
    /// Every transfer of the job landed; the job is not yet marked done.
    BeforeDone,
    /// The chain follower read a block with deposits; they and its cursor
    /// are not yet recorded.
    FollowerMidBlock,
}

impl CrashStep {
    pub fn as_str(self) -> &'static str {
        match self {
            CrashStep::AfterSign => "after-sign",
            CrashStep::AfterBroadcast => "after-broadcast",
            CrashStep::BeforeDone => "before-done",
            CrashStep::FollowerMidBlock => "follower-mid-block",
        }
    }
}

impl FromStr for CrashStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "after-sign" => Ok(Self::AfterSign),
            "after-broadcast" => Ok(Self::AfterBroadcast),
            "before-done" => Ok(Self::BeforeDone),
            "follower-mid-block" => Ok(Self::FollowerMidBlock),
            _ => Err(format!(
                "unknown crash step {s:?}; valid: after-sign, after-broadcast, before-done, \
                 follower-mid-block"
            )),
        }
    }
}

/// Why an attempt did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Trying again will not help: the job fails with this message.
    #[error("{0}")]
    Final(String),
    /// Worth another attempt (uses up a retry).
    #[error("{0}")]
    Retry(String),
    /// The node failed or is unreachable.
    #[error("TRON node: {0}")]
    Tron(#[from] ClientError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// This attempt no longer holds the job: another attempt owns it now.
    #[error("lease lost: the job belongs to a newer attempt")]
    LeaseLost,
}

/// A malformed setting fails the job, naming the key.
impl From<crate::settings::SettingsError> for JobError {
    fn from(e: crate::settings::SettingsError) -> Self {
        match e {
            crate::settings::SettingsError::Sql(e) => JobError::Db(e),
            other => JobError::Final(other.to_string()),
        }
    }
}

impl From<WalletError> for JobError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::Db(e) => JobError::Db(e),
            other => JobError::Final(other.to_string()),
        }
    }
}

impl From<crate::queue::QueueError> for JobError {
    fn from(e: crate::queue::QueueError) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// How a handler's work ended, short of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Finished.
    Complete,
    /// Not yet (a transfer is still on its way, another job holds the
    /// wallet, a gas top-up is pending): run again at this time.
    Later(DateTime<Utc>),
}

/// A wallet row, as the handlers need it.
pub type Wallet = WalletInfo;

/// Reading the wallet's address is the handlers' business: a bad one fails
/// the job.
impl WalletInfo {
    pub fn address(&self) -> Result<Address, JobError> {
        self.address.parse().map_err(|e| {
            JobError::Final(format!(
                "wallet {} has an invalid address {:?}: {e}",
                self.id, self.address
            ))
        })
    }
}

/// Finds the job's wallet, by id if the job has one, else by address.
async fn job_wallet(pool: &PgPool, job: &Job) -> Result<Wallet, JobError> {
    let wallet =
        wallets::lookup::for_job(pool, job.wallet_id, job.wallet_address.as_deref()).await?;
    wallet.ok_or_else(|| {
        JobError::Final(format!(
            "the job names no known wallet (wallet_id {:?}, address {:?})",
            job.wallet_id, job.wallet_address
        ))
    })
}

/// Runs one attempt of a wallet job: the wallet's processing flag is held
/// for the attempt and cleared at its end, whatever the outcome.
pub async fn run(ctx: &Context, job: &Job) -> Outcome {
    let Some(job_type) = job.job_type else {
        return Outcome::Fail("job has no job_type".into());
    };
    let Some(lease) = Lease::of(job) else {
        return Outcome::Retry("job is not held by a worker".into());
    };
    let result = async {
        let wallet = job_wallet(&ctx.pool, job).await?;
        let Some(flag) = processing::acquire(&ctx.pool, wallet.id, &lease).await? else {
            // Another live job works on this wallet: come back shortly.
            return Ok(Done::Later(Utc::now() + chrono::Duration::seconds(2)));
        };
        let done = match job_type {
            JobType::Sync => sync::run(ctx, job, &wallet).await,
            JobType::GasTopup => gas_topup::run(ctx, job, &lease, &wallet).await,
            JobType::Consolidation => consolidation::run(ctx, job, &lease, &wallet).await,
        };
        flag.release().await;
        done
    }
    .await;
    let outcome = match result {
        Ok(Done::Complete) => {
            if let Err(e) = access::clear_denial(&ctx.pool).await {
                tracing::warn!(error = %e, "cannot record that the TRON node answers again");
            }
            Outcome::Complete
        }
        Ok(Done::Later(at)) => Outcome::Snooze(at),
        Err(JobError::Final(message)) => Outcome::Fail(message),
        Err(JobError::Tron(e)) if e.class() == ErrorClass::Denied => {
            denied(ctx, lease.job_id, &e).await
        }
        Err(e) => Outcome::Retry(e.to_string()),
    };
    hold_while_own_transfer_unresolved(ctx, &lease, outcome).await
}

/// The node refused our credentials: every retry would be refused too, so
/// the job fails at once (unless a transfer of its own may still land, see
/// [`hold_while_own_transfer_unresolved`]), and health is Down until a job
/// completes again.
async fn denied(ctx: &Context, job_id: Uuid, e: &ClientError) -> Outcome {
    let message = format!(
        "{e}; this job fails without retrying: fix the workers' TRON_API_KEY (or the node's \
         access rules), then retry it"
    );
    tracing::error!(%job_id, "{message}");
    if let Err(db) = access::record_denial(&ctx.pool, job_id, &message).await {
        tracing::error!(error = %db, "cannot record the TRON node's refusal for health");
    }
    Outcome::Fail(message)
}

/// A job whose own transfer may still land, or has landed unseen, is
/// neither failed nor charged a retry (which could fail it): it comes back
/// soon, and its next attempt settles that transfer first.
async fn hold_while_own_transfer_unresolved(
    ctx: &Context,
    lease: &Lease,
    outcome: Outcome,
) -> Outcome {
    let (Outcome::Fail(error) | Outcome::Retry(error)) = &outcome else {
        return outcome;
    };
    match crate::transfers::job_has_unresolved(&ctx.pool, lease.job_id).await {
        Ok(true) => {
            tracing::warn!(job_id = %lease.job_id, %error,
                "attempt ended in error while a transfer of the job may still land: \
                 it runs again once that transfer can be settled");
            Outcome::Snooze(
                Utc::now() + chrono::Duration::from_std(transfers::soon(ctx)).unwrap_or_default(),
            )
        }
        Ok(false) => outcome,
        // Unknown: a retry, as any database failure.
        Err(e) => Outcome::Retry(format!("{error}; and checking its transfers failed: {e}")),
    }
}

/// Records a policy refusal as a security event (health turns Down until
/// an admin acknowledges it) and returns the job's final error. Nothing was
/// signed.
pub async fn refused(
    ctx: &Context,
    job_id: Option<Uuid>,
    wallet_id: Option<Uuid>,
    refusal: Refusal,
) -> JobError {
    tracing::error!(
        ?job_id,
        ?wallet_id,
        rule = refusal.rule.as_str(),
        "{refusal}"
    );
    let recorded = audit::security::record_policy_refusal(
        &ctx.pool,
        refusal.rule.as_str(),
        &refusal.message,
        job_id,
        wallet_id,
    )
    .await;
    match recorded {
        Ok(_) => JobError::Final(refusal.to_string()),
        // The event must not be lost: try the whole attempt again.
        Err(e) => JobError::Retry(format!("{refusal}; and recording it failed: {e}")),
    }
}

/// Which payout address a job uses: the `system_config` choice when the
/// policy allows it, else (unset) the policy's first. Never one of our own
/// deposit wallets, nor a smart contract (the token included): the policy
/// file cannot be checked against the chain when it is written, so it is
/// here. `rule` names the refusal.
pub async fn choose_address(
    ctx: &Context,
    job_id: Uuid,
    wallet_id: Uuid,
    (key, configured): (&str, Option<Address>),
    allowed: &[Address],
    rule: Rule,
) -> Result<Address, JobError> {
    let refuse = |message: String| Refusal { rule, message };
    let address = match configured {
        Some(a) if !allowed.contains(&a) => {
            let list: Vec<String> = allowed.iter().map(Address::to_string).collect();
            let r = refuse(format!(
                "system_config {key} is {a}, which the funds policy does not allow (allowed: {}); \
                 propose an allowed one with `walletops config propose {key} '\"T...\"'` \
                 for a second admin to approve",
                list.join(", ")
            ));
            return Err(refused(ctx, Some(job_id), Some(wallet_id), r).await);
        }
        Some(a) => {
            // The policy file's minimum delay is the signing side's: a
            // proposal applied sooner after its approval is not trusted.
            let minimum = ctx.signer.policy().change_delay;
            if let Some(waited) =
                crate::settings::proposals::wait_before_effect(&ctx.pool, key, &a).await?
                && waited < minimum
            {
                let r = refuse(format!(
                    "system_config {key} {a} took effect {} s after its approval, sooner than \
                     the funds policy's change_delay_seconds ({} s); propose it again with \
                     policy.change_delay_seconds at least that long",
                    waited.as_secs(),
                    minimum.as_secs()
                ));
                return Err(refused(ctx, Some(job_id), Some(wallet_id), r).await);
            }
            a
        }
        None => *allowed.first().ok_or_else(|| {
            JobError::Final(format!("the funds policy allows no address for {key}"))
        })?,
    };
    if address == ctx.signer.policy().usdt_contract || ctx.tron.is_contract(&address).await? {
        let r = refuse(format!("{key} {address} is a smart contract, not a wallet"));
        return Err(refused(ctx, Some(job_id), Some(wallet_id), r).await);
    }
    if wallets::lookup::role_of(&ctx.pool, &address).await? == Some(WalletRole::Deposit) {
        let r = refuse(format!("{key} {address} is one of our deposit wallets"));
        return Err(refused(ctx, Some(job_id), Some(wallet_id), r).await);
    }
    Ok(address)
}

/// `Done::Later` after `d`.
fn later(d: Duration) -> Done {
    Done::Later(Utc::now() + chrono::Duration::from_std(d).unwrap_or_default())
}
