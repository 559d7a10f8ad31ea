//! The transfer-record protocol: a transfer moves funds at most once, and
//! its record says what became of it.
//!
//! - A transfer is built and signed once; its record (txID, signed bytes,
//!   expiry, amount, parties, kind, wallet, job) is committed to `transfers`
//!   before the first broadcast. At most one unresolved record per (wallet,
//!   kind) exists (a partial unique index), and records outlive jobs.
//! - Before a job does anything with a wallet, it resolves the wallet's
//!   unresolved records ([`settle`]), whichever job made them, by asking the
//!   chain about the stored txID ([`resolve`]):
//!   - in a solidified block and successful (for USDT: with the expected
//!     `Transfer` event) → `confirmed`;
//!   - in a solidified block and failed (REVERT, OUT_OF_ENERGY) → `failed`;
//!   - not in a solidified block, and the solidified head is already past
//!     the transaction's expiration → it can never land: `expired`. Only
//!     then may a new transfer of that kind be built;
//!   - otherwise it may still land: while the node's head is before its
//!     expiration, the same signed bytes are broadcast again (a
//!     `DUP_TRANSACTION_ERROR` proves nothing, so the lookups go on).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Context, CrashStep, JobError, JobSettings};
use crate::policy::{Refusal, Rule, Usage};
use crate::queue::Lease;
use crate::signer::{SealedWallet, SignError, SignRequest, Signer};
use crate::transfers::{self as store, NewRecord};
use crate::tron::client::{BroadcastCode, ClientError, TransactionInfo, View};
use crate::tron::{Address, Contract, RawTransaction, SignedTransaction, Sun};
use crate::wallets;

pub use crate::transfers::{Asset, TransferKind, TransferRecord, TransferStatus};

/// The record's signed transaction, as stored.
fn signed(rec: &TransferRecord) -> Result<SignedTransaction, JobError> {
    SignedTransaction::decode(&rec.signed_tx).map_err(|e| {
        JobError::Final(format!(
            "stored transfer {} cannot be decoded: {e}",
            rec.tx_id
        ))
    })
}

/// A transfer to sign: the contract and what the record says about it.
#[derive(Debug, Clone)]
pub struct NewTransfer {
    /// The deposit wallet the record belongs to (a sweep's sender, a
    /// top-up's recipient).
    pub wallet_id: Uuid,
    /// The wallet whose key signs (the gas wallet for a top-up).
    pub sender_wallet: Uuid,
    pub kind: TransferKind,
    pub asset: Asset,
    pub from: Address,
    pub to: Address,
    /// SUN for TRX, token units for USDT.
    pub amount: u64,
    pub contract: Contract,
    /// Gas top-ups: the estimated SUN one USDT transfer of the recipient
    /// costs (the policy bounds the top-up by it).
    pub topup_need: Option<Sun>,
}

/// What the chain says about a recorded transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Confirmed,
    /// Mined but failed; the reason.
    Failed(String),
    /// Expired and provably not on chain.
    Expired,
    /// May still land. `refused` is the node's answer when it refused the
    /// re-broadcast for a reason other than expiry.
    Pending {
        refused: Option<String>,
    },
}

/// Who makes a record, and what keeps them from making it when they no
/// longer may. Every record is also one of a kind per wallet while
/// unresolved (the partial unique index).
#[derive(Debug, Clone, Copy)]
pub enum Maker<'a> {
    /// A job's attempt: an attempt that lost its job creates nothing.
    Job(&'a Lease),
    /// The maintenance leader (no job): checked in the record's own
    /// transaction, so a leader whose lease ran out creates nothing.
    Leader(Uuid),
    /// An operator's command (no job, no lease): the audit row `action` is
    /// written in the record's transaction by the database's
    /// `walletops_audit()`, which refuses anyone without the right.
    Operator {
        action: &'static str,
        token: Option<&'a str>,
    },
}

impl Maker<'_> {
    fn job_id(&self) -> Option<Uuid> {
        match self {
            Maker::Job(lease) => Some(lease.job_id),
            Maker::Leader(_) | Maker::Operator { .. } => None,
        }
    }
}

/// Signs `t` once, through the signer and its policy, and commits its
/// record, guarded as `maker` says. Fails with [`JobError::Retry`] when the
/// wallet already has an unresolved transfer of this kind, and finally (a
/// security event) when the policy refuses it.
pub async fn create(
    ctx: &Context,
    maker: Maker<'_>,
    settings: &JobSettings,
    t: NewTransfer,
) -> Result<TransferRecord, JobError> {
    let job_id = maker.job_id();
    let amount = i64::try_from(t.amount)
        .map_err(|_| JobError::Final(format!("amount {} does not fit the record", t.amount)))?;
    let fee_limit = super::fees::fee_limit(&t.contract, settings);
    let reference = ctx.tron.now_block().await?;
    let raw = RawTransaction::new(
        t.contract,
        &reference,
        Utc::now().timestamp_millis(),
        settings.tx_expiry,
        fee_limit,
    );
    let expires_at = DateTime::from_timestamp_millis(raw.expiration_ms)
        .ok_or_else(|| JobError::Final("transaction expiration out of range".into()))?;
    let sealed = |id: Uuid| async move {
        let (address, key) = wallets::stored_key(&ctx.pool, id).await?;
        let address = address.parse().map_err(|e| {
            JobError::Final(format!(
                "wallet {id} has an invalid address {address:?}: {e}"
            ))
        })?;
        Ok::<_, JobError>(SealedWallet {
            wallet_id: id,
            address,
            ciphertext: key.ciphertext,
            nonce: key.nonce,
        })
    };
    let request = SignRequest {
        kind: t.kind,
        asset: t.asset,
        from: t.from,
        to: t.to,
        amount: t.amount,
        wallet_id: t.wallet_id,
        sender: sealed(t.sender_wallet).await?,
        recipient: match t.kind {
            // A row without a key of ours (inserted around walletops) is
            // no deposit wallet of ours: a refusal, not a mere error.
            TransferKind::GasTopup | TransferKind::EnergyDelegate => {
                match sealed(t.wallet_id).await {
                    Err(JobError::Final(reason)) => {
                        let refusal = Refusal {
                            rule: Rule::Recipient,
                            message: format!(
                                "{} recipient {} is not one of our deposit wallets: {reason}",
                                t.kind, t.to
                            ),
                        };
                        return Err(super::refused(ctx, job_id, Some(t.wallet_id), refusal).await);
                    }
                    other => Some(other?),
                }
            }
            _ => None,
        },
        topup_need: t.topup_need.map(|n| n.0),
        raw: raw.encode(),
    };

    let mut tx = ctx.pool.begin().await?;
    match maker {
        Maker::Job(lease) => {
            if !crate::queue::hold_lease(&mut tx, lease).await? {
                return Err(JobError::LeaseLost);
            }
        }
        Maker::Leader(holder) => {
            if !crate::queue::maintenance::still_leading(&mut tx, holder).await? {
                return Err(JobError::Retry(
                    "no longer the maintenance leader: nothing signed".into(),
                ));
            }
            if wallets::processing::sweep_in_flight(&mut tx, t.wallet_id).await? {
                return Err(JobError::Retry(format!(
                    "a sweep of wallet {} is in flight: its job takes the delegation back",
                    t.wallet_id
                )));
            }
        }
        Maker::Operator { .. } => {}
    }
    // One signature of a kind at a time, so that two workers cannot both
    // fit under a daily cap that only one fits under. Operators may not
    // take the lock (only workers may write signing_locks): their stakes
    // are one at a time per energy wallet by the unresolved-record index.
    if !matches!(maker, Maker::Operator { .. }) {
        store::lock_signing(&mut tx, t.kind).await?;
    }
    let signed = match &ctx.signer {
        Signer::Local(core) => {
            let today = store::signed_today(&mut *tx, t.kind, t.wallet_id).await?;
            let usage = Usage {
                wallet: today.wallet,
                total: today.total,
            };
            core.sign(&request, usage).map_err(SignError::Refused)
        }
        Signer::Remote(remote) => remote.sign(&request).await,
    };
    let signed = match signed {
        Ok(s) => s,
        Err(SignError::Refused(refusal)) => {
            drop(tx);
            return Err(super::refused(ctx, job_id, Some(t.wallet_id), refusal).await);
        }
        Err(SignError::Unavailable(message)) => return Err(JobError::Retry(message)),
    };
    let (from, to, tx_id) = (t.from.to_base58(), t.to.to_base58(), signed.txid().to_hex());
    let bytes = signed.encode();
    if let Maker::Operator { action, token } = maker {
        crate::audit::trail::record(
            &mut tx,
            action,
            "wallet",
            Some(&from),
            serde_json::json!({
                "kind": t.kind, "to": to, "amount_sun": amount, "tx_id": tx_id,
            }),
            token,
        )
        .await?;
    }
    let new = NewRecord {
        wallet_id: t.wallet_id,
        job_id,
        kind: t.kind,
        asset: t.asset,
        from_address: &from,
        to_address: &to,
        amount,
        tx_id: &tx_id,
        signed_tx: &bytes,
        expires_at,
    };
    let Some(record) = store::insert(&mut tx, &new).await? else {
        return Err(JobError::Retry(format!(
            "wallet {} already has an unresolved {} transfer",
            t.from, t.kind
        )));
    };
    tx.commit().await?;
    tracing::info!(
        tx_id = %record.tx_id, kind = %record.kind, amount, from = %record.from_address,
        to = %record.to_address, "transfer signed and recorded"
    );
    ctx.crash_point(CrashStep::AfterSign);
    Ok(record)
}

/// What the node answered a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    /// It took the bytes, or already had them.
    Taken,
    /// The answer was lost or the node did not take them: the bytes may not
    /// have reached it, and may be sent again.
    Unknown,
    /// It refused them for a reason other than expiry: the reason.
    Refused(String),
    /// It refused them as expired or built on an unknown block: they can
    /// never land, which the lookups will prove.
    CannotLand,
}

/// What one attempt has broadcast. A record the node answered for in this
/// attempt is only looked up afterwards: sending the same bytes again
/// cannot move funds twice (one txID lands once), but each repeat is
/// another request and another `broadcast_count`, and a refusal would only
/// be repeated. A record left by an earlier attempt, or whose broadcast
/// the node may not have received, is sent (again).
#[derive(Debug, Default)]
pub struct Attempt {
    answered: HashSet<Uuid>,
    /// Never broadcast: maintenance only asks the chain about the records
    /// of dead jobs, it does not push them.
    look_only: bool,
}

/// Broadcasts the stored bytes and records that it did.
pub async fn broadcast(
    ctx: &Context,
    attempt: &mut Attempt,
    rec: &TransferRecord,
) -> Result<Broadcast, JobError> {
    let signed = signed(rec)?;
    let (note, answer) = match ctx.tron.broadcast(&signed).await {
        Ok(_) => (None, Broadcast::Taken),
        Err(e @ (ClientError::Ambiguous { .. } | ClientError::Unavailable { .. })) => {
            (Some(e.to_string()), Broadcast::Unknown)
        }
        Err(ClientError::Rejected { code, message }) => {
            let text = format!("node refused transfer {}: {code}: {message}", rec.tx_id);
            let answer = if matches!(code, BroadcastCode::Tapos | BroadcastCode::Expiration) {
                Broadcast::CannotLand
            } else {
                Broadcast::Refused(text.clone())
            };
            (Some(text), answer)
        }
        Err(e) => return Err(e.into()),
    };
    store::mark_broadcast(&ctx.pool, rec.id, note.as_deref()).await?;
    if answer != Broadcast::Unknown {
        attempt.answered.insert(rec.id);
    }
    if answer == Broadcast::Taken {
        ctx.crash_point(CrashStep::AfterBroadcast);
    }
    Ok(answer)
}

async fn mark(
    ctx: &Context,
    rec: &TransferRecord,
    status: TransferStatus,
    error: Option<&str>,
    mined: Option<store::Mined>,
) -> Result<(), JobError> {
    Ok(store::mark_resolved(&ctx.pool, rec.id, status, error, mined).await?)
}

/// Whether a mined receipt shows the recorded transfer done; the reason
/// when not.
fn judge(rec: &TransferRecord, info: &TransactionInfo, usdt: &Address) -> Result<(), String> {
    if !info.succeeded() {
        let result = info.receipt_result.as_deref().unwrap_or("FAILED");
        let message = info.message.as_deref().unwrap_or("");
        return Err(format!(
            "{} transfer {} of {} from {} failed on chain in block {}: {result} {message}",
            rec.kind, rec.tx_id, rec.amount, rec.from_address, info.block_number
        )
        .trim_end()
        .to_string());
    }
    if rec.asset == Asset::Usdt {
        let moved = info.trc20_transfers(usdt).iter().any(|l| {
            l.from.to_base58() == rec.from_address
                && l.to.to_base58() == rec.to_address
                && i64::try_from(l.amount.0) == Ok(rec.amount)
        });
        if !moved {
            return Err(format!(
                "USDT transfer {} succeeded without the expected Transfer event",
                rec.tx_id
            ));
        }
    }
    Ok(())
}

/// Asks the chain about a recorded transfer and records what it learnt
/// (see the module documentation); broadcasts it only when this attempt
/// has not had the node's answer for it yet.
pub async fn resolve(
    ctx: &Context,
    attempt: &mut Attempt,
    rec: &TransferRecord,
    usdt: &Address,
) -> Result<Resolution, JobError> {
    let signed = signed(rec)?;
    let txid = signed.txid();
    let expiration_ms = signed.raw().expiration_ms;
    // The solidified head first: a transaction absent from the solidified
    // chain looked up afterwards is absent from every block up to it.
    let solid = ctx.tron.block(View::Solidified).await?;
    if let Some(info) = ctx.tron.transaction_info(&txid, View::Solidified).await? {
        return match judge(rec, &info, usdt) {
            Ok(()) => {
                mark(
                    ctx,
                    rec,
                    TransferStatus::Confirmed,
                    None,
                    Some(store::Mined {
                        block: info.block_number,
                        cost: store::Cost::of(&info),
                    }),
                )
                .await?;
                tracing::info!(tx_id = %rec.tx_id, kind = %rec.kind, "transfer confirmed");
                Ok(Resolution::Confirmed)
            }
            Err(reason) => {
                mark(
                    ctx,
                    rec,
                    TransferStatus::Failed,
                    Some(&reason),
                    Some(store::Mined {
                        block: info.block_number,
                        cost: store::Cost::of(&info),
                    }),
                )
                .await?;
                tracing::warn!(tx_id = %rec.tx_id, "{reason}");
                Ok(Resolution::Failed(reason))
            }
        };
    }
    if ctx
        .tron
        .transaction_info(&txid, View::Head)
        .await?
        .is_some()
    {
        // Mined, not yet solidified.
        return Ok(Resolution::Pending { refused: None });
    }
    if solid.timestamp_ms > expiration_ms {
        mark(
            ctx,
            rec,
            TransferStatus::Expired,
            Some("expired without landing: not in any block up to a solidified block past its expiration"),
            None,
        )
        .await?;
        tracing::info!(tx_id = %rec.tx_id, kind = %rec.kind, "transfer expired without landing");
        return Ok(Resolution::Expired);
    }
    if attempt.look_only || attempt.answered.contains(&rec.id) {
        return Ok(Resolution::Pending { refused: None });
    }
    let head = ctx.tron.now_block().await?;
    if head.timestamp_ms < expiration_ms {
        let refused = match broadcast(ctx, attempt, rec).await? {
            Broadcast::Refused(reason) => Some(reason),
            Broadcast::Taken | Broadcast::Unknown | Broadcast::CannotLand => None,
        };
        return Ok(Resolution::Pending { refused });
    }
    // Expired by the head, not yet provably absent: wait for solidification.
    Ok(Resolution::Pending { refused: None })
}

/// The wallet's unresolved transfers, oldest first.
pub async fn unresolved(ctx: &Context, wallet_id: Uuid) -> Result<Vec<TransferRecord>, JobError> {
    Ok(store::unresolved(&ctx.pool, wallet_id).await?)
}

/// Whether a transfer of this kind made by `job_id` has landed.
pub async fn landed(ctx: &Context, job_id: Uuid, kind: TransferKind) -> Result<bool, JobError> {
    Ok(store::landed(&ctx.pool, job_id, kind).await?)
}

/// The outcome of [`settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Nothing unresolved is left.
    Clear,
    /// Something may still land: wait (no retry used).
    Pending,
}

/// One look at the wallet's unresolved transfers, as an attempt of its own
/// (a sync's: it does not wait). See [`settle`].
pub async fn pass(
    ctx: &Context,
    wallet_id: Uuid,
    job_id: Uuid,
    usdt: &Address,
) -> Result<usize, JobError> {
    pass_in(ctx, &mut Attempt::default(), wallet_id, job_id, usdt).await
}

/// One pass over the wallet's unresolved transfers: each is resolved once
/// (and broadcast if it may still land and `attempt` has not yet). Returns
/// how many may still land. A transfer of `job_id` that failed on chain
/// fails the job ([`JobError::Final`]); a refused broadcast is a retry,
/// reported after the pass.
async fn pass_in(
    ctx: &Context,
    attempt: &mut Attempt,
    wallet_id: Uuid,
    job_id: Uuid,
    usdt: &Address,
) -> Result<usize, JobError> {
    let mut pending = 0;
    let mut refusal = None;
    for rec in unresolved(ctx, wallet_id).await? {
        match resolve(ctx, attempt, &rec, usdt).await? {
            Resolution::Confirmed | Resolution::Expired => {}
            Resolution::Failed(reason) if rec.job_id == Some(job_id) => {
                return Err(JobError::Final(reason));
            }
            Resolution::Failed(reason) => {
                tracing::warn!(tx_id = %rec.tx_id, "a transfer of another job failed: {reason}");
            }
            Resolution::Pending { refused } => {
                pending += 1;
                refusal = refusal.or(refused);
            }
        }
    }
    match refusal {
        Some(reason) => Err(JobError::Retry(reason)),
        None => Ok(pending),
    }
}

/// Resolves every unresolved transfer of the wallet, waiting up to
/// `ctx.wait` for those that may still land.
pub async fn settle(
    ctx: &Context,
    attempt: &mut Attempt,
    wallet_id: Uuid,
    job_id: Uuid,
    usdt: &Address,
) -> Result<Settled, JobError> {
    let deadline = tokio::time::Instant::now() + ctx.wait;
    loop {
        if pass_in(ctx, attempt, wallet_id, job_id, usdt).await? == 0 {
            return Ok(Settled::Clear);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Settled::Pending);
        }
        tokio::time::sleep(ctx.poll).await;
    }
}

/// How a [`send`] ended, short of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The transfer is confirmed.
    Landed,
    /// It expired without landing: the caller may build anew.
    Expired,
    /// It may still land after `ctx.wait`: come back later (no retry used).
    Pending,
}

/// Signs, records and broadcasts `t`, then waits for it like any leftover.
/// A failure on chain is a [`JobError::Final`], a refused broadcast a
/// [`JobError::Retry`].
pub async fn send(
    ctx: &Context,
    attempt: &mut Attempt,
    lease: &Lease,
    settings: &JobSettings,
    t: NewTransfer,
) -> Result<Sent, JobError> {
    let wallet_id = t.wallet_id;
    let rec = create(ctx, Maker::Job(lease), settings, t).await?;
    if let Broadcast::Refused(reason) = broadcast(ctx, attempt, &rec).await? {
        return Err(JobError::Retry(reason));
    }
    match settle(
        ctx,
        attempt,
        wallet_id,
        lease.job_id,
        &settings.usdt_contract,
    )
    .await?
    {
        Settled::Pending => Ok(Sent::Pending),
        Settled::Clear => match store::status(&ctx.pool, rec.id).await? {
            TransferStatus::Confirmed => Ok(Sent::Landed),
            TransferStatus::Expired => Ok(Sent::Expired),
            // Resolved by another process meanwhile (this pass fails the
            // job on a failure it finds itself).
            TransferStatus::Failed => Err(JobError::Final(format!(
                "{} transfer {} failed on chain",
                rec.kind, rec.tx_id
            ))),
            TransferStatus::Signed | TransferStatus::Broadcast => Ok(Sent::Pending),
        },
    }
}

/// Records resolved per maintenance round, at most.
const DEAD_BATCH: i64 = 50;

/// Resolves, against the chain by txID, the transfer records that no live
/// job will settle (their job failed, was cancelled or was deleted), so
/// that the ledger matches the chain without anyone retrying the job. Only
/// looks: a dead job's transfer is not broadcast again. Leader-only
/// maintenance (the engine's maintainer runs it); returns how many it
/// resolved.
pub async fn resolve_dead_letters(ctx: &Context) -> Result<usize, JobError> {
    let records = store::left_by_dead_jobs(&ctx.pool, DEAD_BATCH).await?;
    if records.is_empty() {
        return Ok(0);
    }
    let usdt = JobSettings::load(&ctx.pool).await?.usdt_contract;
    let mut attempt = Attempt {
        look_only: true,
        ..Attempt::default()
    };
    let mut resolved = 0;
    for rec in &records {
        match resolve(ctx, &mut attempt, rec, &usdt).await? {
            Resolution::Pending { .. } => {}
            outcome => {
                resolved += 1;
                tracing::info!(tx_id = %rec.tx_id, job_id = ?rec.job_id, ?outcome,
                    "resolved a transfer left by a dead job");
            }
        }
    }
    Ok(resolved)
}

/// A short wait before looking at the chain again.
pub fn soon(ctx: &Context) -> Duration {
    ctx.poll.max(Duration::from_millis(200)) * 2
}
