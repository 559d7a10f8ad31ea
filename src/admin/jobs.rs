//! Job actions: dispatch, retry, cancel, clear failed, reset processing.
//! The queue does the job work inside the action's transaction; this module
//! checks the right and writes the audit row beside it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::audit::{self, ActionType, Target};
use super::wallet_lookup::{self, WalletInfo, WalletRef};
use super::{AdminError, Identity, Permission};
use crate::queue::{self, AttemptRecord, IdFragment, Job, JobFilter, JobType, NewJob, QueueError};
use crate::transfers::JobTransfer;

impl From<QueueError> for AdminError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotFound(id) => AdminError::NotFound(format!("job {id} not found")),
            QueueError::InvalidState { .. } | QueueError::Duplicate { .. } => {
                AdminError::Conflict(e.to_string())
            }
            QueueError::Sql(e) => AdminError::from(e),
            other => AdminError::Corrupt(other.to_string()),
        }
    }
}

/// A dispatch request, parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub wallet: WalletRef,
    /// When given, the wallet must belong to this user.
    pub user_id: Option<Uuid>,
    pub job_type: JobType,
}

/// What a dispatch did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dispatched {
    pub wallet: WalletInfo,
    pub job: Job,
    /// False when the wallet already had a pending or processing job of this
    /// type: that job is returned and nothing changed (no audit row).
    pub created: bool,
}

/// Queues a job for a wallet (operator or admin).
pub async fn dispatch(
    pool: &PgPool,
    identity: &Identity,
    request: &Dispatch,
) -> Result<Dispatched, AdminError> {
    identity.authorize(Permission::Dispatch)?;
    let mut tx = pool.begin().await?;
    let wallet = wallet_lookup::find(&mut tx, &request.wallet)
        .await
        .map_err(|e| e.refused(identity))?;
    if let Some(user_id) = request.user_id
        && wallet.user_id != Some(user_id)
    {
        return Err(AdminError::Invalid(format!(
            "wallet {} does not belong to user {user_id}",
            wallet.address
        ))
        .refused(identity));
    }
    let enqueued = queue::enqueue(
        &mut tx,
        &NewJob {
            wallet_address: Some(wallet.address.clone()),
            wallet_id: Some(wallet.id),
            user_id: wallet.user_id,
            ..NewJob::new(request.job_type)
        },
    )
    .await?;
    if enqueued.created {
        audit::record(
            &mut tx,
            identity,
            ActionType::Dispatch,
            &Target::new("job", enqueued.job.id),
            json!({
                "job_type": request.job_type,
                "wallet_id": wallet.id,
                "wallet_address": wallet.address,
                "rows": 1,
            }),
        )
        .await?;
    } else {
        tracing::info!(identity = %identity, job = %enqueued.job.id, "dispatch found an existing job");
    }
    tx.commit().await?;
    Ok(Dispatched {
        wallet,
        job: enqueued.job,
        created: enqueued.created,
    })
}

/// Puts a failed or cancelled job back to pending (operator or admin).
pub async fn retry(pool: &PgPool, identity: &Identity, id: Uuid) -> Result<Job, AdminError> {
    identity.authorize(Permission::RetryJob)?;
    let mut tx = pool.begin().await?;
    let before = queue::get(&mut tx, id)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    let job = queue::retry(&mut tx, id)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    audit::record(
        &mut tx,
        identity,
        ActionType::Retry,
        &Target::new("job", id),
        json!({"previous_status": before.status, "wallet_address": job.wallet_address, "rows": 1}),
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

/// Cancels a pending job (operator or admin).
pub async fn cancel(pool: &PgPool, identity: &Identity, id: Uuid) -> Result<Job, AdminError> {
    identity.authorize(Permission::CancelJob)?;
    let mut tx = pool.begin().await?;
    let job = queue::cancel(&mut tx, id)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    audit::record(
        &mut tx,
        identity,
        ActionType::Cancel,
        &Target::new("job", id),
        json!({"wallet_address": job.wallet_address, "rows": 1}),
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

/// What clear-failed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cleared {
    pub deleted: u64,
}

/// Deletes every failed job (operator or admin). Transfer records outlive
/// their jobs (the schema only forgets which job made them).
pub async fn clear_failed(pool: &PgPool, identity: &Identity) -> Result<Cleared, AdminError> {
    identity.authorize(Permission::ClearFailed)?;
    let mut tx = pool.begin().await?;
    let deleted = queue::clear_failed(&mut tx).await?;
    audit::record(
        &mut tx,
        identity,
        ActionType::ClearFailed,
        &Target::kind("jobs"),
        json!({"rows": deleted}),
    )
    .await?;
    tx.commit().await?;
    Ok(Cleared { deleted })
}

/// What reset-processing did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reset {
    /// Processing jobs past their lease, taken back (pending, or failed when
    /// out of retries).
    pub jobs: u64,
    /// Wallets left flagged as processing by a job that is not live.
    pub wallets: Vec<String>,
}

/// Resets stuck processing states (operator or admin): jobs whose lease
/// ran out, and wallets whose processing job is not live. Jobs whose worker
/// still renews its lease are left alone.
pub async fn reset_processing(pool: &PgPool, identity: &Identity) -> Result<Reset, AdminError> {
    identity.authorize(Permission::ResetProcessing)?;
    let mut tx = pool.begin().await?;
    let jobs = queue::reset_stuck(&mut tx).await?;
    let wallets = crate::wallets::processing::release_orphaned(&mut tx).await?;
    audit::record(
        &mut tx,
        identity,
        ActionType::ResetProcessing,
        &Target::kind("jobs"),
        json!({"rows": jobs + wallets.len() as u64, "jobs": jobs, "wallets": wallets}),
    )
    .await?;
    tx.commit().await?;
    Ok(Reset { jobs, wallets })
}

/// How many wallets a reset-processing would release now (flagged as
/// processing by a job that is not live), counted with the reset's own
/// predicate.
pub async fn orphaned_wallets(pool: &PgPool) -> Result<u64, AdminError> {
    let n = crate::wallets::processing::count_orphaned(pool).await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many of the jobs a fragment matches are named when it matches more
/// than one.
const AMBIGUOUS_SHOWN: i64 = 5;

/// The one job whose id is `fragment` or starts or ends with it; refuses
/// when none does, or when several do (naming a few, newest first, with
/// their short ids).
pub async fn resolve(pool: &PgPool, fragment: &IdFragment) -> Result<Uuid, AdminError> {
    let mut conn = pool.acquire().await?;
    let (ids, total) = queue::find_by_fragment(&mut conn, fragment, AMBIGUOUS_SHOWN).await?;
    match ids.as_slice() {
        [] => Err(AdminError::NotFound(format!(
            "no job id starts or ends with {fragment}"
        ))),
        [id] => Ok(*id),
        many => {
            // Tails, as every screen shows them: each tells its job apart
            // and can be typed back.
            let len = queue::short_len(many);
            let shown: Vec<String> = many
                .iter()
                .map(|id| queue::id::short_id_len(id, len))
                .collect();
            let more = if total > many.len() as i64 {
                ", …"
            } else {
                ""
            };
            Err(AdminError::Invalid(format!(
                "{total} jobs match {fragment} ({}{more}): give more digits",
                shown.join(", ")
            )))
        }
    }
}

/// Jobs matching the filter, newest first.
pub async fn list(pool: &PgPool, filter: &JobFilter) -> Result<Vec<Job>, AdminError> {
    let mut conn = pool.acquire().await?;
    // A search names a wallet address prefix or a user email prefix; the
    // queue knows no users, so the users it names are looked up here.
    let search = filter.search.as_deref().map(str::trim).unwrap_or("");
    if search.is_empty() {
        return Ok(queue::list(&mut conn, filter).await?);
    }
    let filter = JobFilter {
        search_users: super::overview::users_with_email_prefix(&mut conn, search).await?,
        ..filter.clone()
    };
    Ok(queue::list(&mut conn, &filter).await?)
}

pub use crate::queue::{
    BulkAction, BulkCount, FailureGroup, Failures, GROUPED_AT_MOST, JobSelection,
};

/// Failed jobs with one error class: the groups of [`failures`] that the
/// dashboard lists.
pub const FAILURE_GROUPS_SHOWN: u32 = 8;

/// The failed jobs: the total and the largest groups by error class.
pub async fn failures(pool: &PgPool, shown: u32) -> Result<Failures, AdminError> {
    Ok(crate::queue::failures(pool, shown).await?)
}

/// How many jobs [`act_on_selection`] would change now: the confirmation's
/// count, from the same SQL as the action.
pub async fn count_selection(
    pool: &PgPool,
    action: BulkAction,
    selection: &JobSelection,
) -> Result<BulkCount, AdminError> {
    check_selection(action, selection)?;
    let mut conn = pool.acquire().await?;
    Ok(crate::queue::count_selected(&mut conn, action, selection).await?)
}

/// Retries (failed or cancelled) or cancels (pending) every job the
/// selection matches, as one audited action with the filter and the count.
/// With `expect`, the count shown to the operator: when the action would
/// change a different number of jobs (the set moved since), nothing changes
/// and the error says both numbers.
pub async fn act_on_selection(
    pool: &PgPool,
    identity: &Identity,
    action: BulkAction,
    selection: &JobSelection,
    expect: Option<u64>,
) -> Result<BulkCount, AdminError> {
    let (permission, audited) = match action {
        BulkAction::Retry => (Permission::RetryJob, ActionType::Retry),
        BulkAction::Cancel => (Permission::CancelJob, ActionType::Cancel),
        BulkAction::Clear => {
            return Err(AdminError::Invalid(
                "clearing failed jobs is clear-failed, not a filtered action".into(),
            ));
        }
    };
    identity.authorize(permission)?;
    check_selection(action, selection).map_err(|e| e.refused(identity))?;
    let mut tx = pool.begin().await?;
    let done = crate::queue::apply_selected(&mut tx, action, selection).await?;
    if let Some(expected) = expect
        && expected != done.jobs
    {
        // Dropping the transaction rolls the change back.
        return Err(AdminError::Conflict(format!(
            "{} jobs match now, not the {expected} shown; nothing changed: count again",
            done.jobs
        ))
        .refused(identity));
    }
    if done.jobs == 0 {
        return Ok(done);
    }
    audit::record(
        &mut tx,
        identity,
        audited,
        &Target::kind("jobs"),
        json!({"filter": selection, "rows": done.jobs, "skipped": done.skipped}),
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// A selection the action applies to: its status fits the action, and its
/// texts are not empty.
fn check_selection(action: BulkAction, selection: &JobSelection) -> Result<(), AdminError> {
    if !action.applies_to(selection.status) {
        let which = match action {
            BulkAction::Retry => "retry takes failed or cancelled jobs",
            BulkAction::Cancel => "cancel takes pending jobs (a processing job runs to its end)",
            BulkAction::Clear => "clear takes failed jobs",
        };
        return Err(AdminError::Invalid(format!(
            "cannot select {} jobs: {which}",
            selection.status
        )));
    }
    let blank = |v: &Option<String>| v.as_deref().is_some_and(|t| t.trim().is_empty());
    if blank(&selection.error_like) || blank(&selection.wallet_address) {
        return Err(AdminError::Invalid(
            "an empty filter text would match everything: leave the filter out instead".into(),
        ));
    }
    Ok(())
}

/// Everything that explains one job: the row, every attempt that did not
/// succeed, and the transfers it made with the chain's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The database's clock at the read: relative times are measured from it.
    pub taken_at: DateTime<Utc>,
    pub job: Job,
    /// host:pid of the worker holding the job, or that held it last, while
    /// that worker's row exists.
    pub worker: Option<String>,
    /// Oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// Oldest first.
    pub transfers: Vec<JobTransfer>,
}

/// One job explained (any role may read it).
pub async fn detail(pool: &PgPool, id: Uuid) -> Result<JobDetail, AdminError> {
    // One snapshot for the row, its attempts and its transfers.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let taken_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let job = queue::get(&mut tx, id).await?;
    let worker = match job.locked_by {
        Some(holder) => queue::workers::label(&mut tx, holder).await?,
        None => None,
    };
    let attempts = queue::attempts(&mut tx, id).await?;
    let transfers = crate::transfers::of_job(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(JobDetail {
        taken_at,
        job,
        worker,
        attempts,
        transfers,
    })
}
