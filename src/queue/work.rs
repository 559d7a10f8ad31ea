//! The worker's side: batch claims with leases, outcomes, lease renewal and
//! the rescue of expired leases.
//!
//! Every statement here that changes a claimed job is guarded by its
//! [`Lease`] (id, attempt, holder) and by `status = 'processing'`: once a
//! lease is lost (rescued, or the job reclaimed as a later attempt), nothing
//! the old holder sends changes the row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Job, JobStatus, JobType, QueueError};

/// Most expired leases one rescue statement takes back.
pub(crate) const RESCUE_BATCH: i64 = 1000;

/// A claim on a job: which attempt of which job, held by which worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub job_id: Uuid,
    pub attempt: i32,
    pub holder: Uuid,
}

impl Lease {
    /// The lease a claimed job carries. `None` if the job is not held.
    pub fn of(job: &Job) -> Option<Self> {
        Some(Self {
            job_id: job.id,
            attempt: job.attempt,
            holder: job.locked_by?,
        })
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: `completed`.
    Complete,
    /// Failed this time: back to `pending` after backoff, or `failed` once
    /// `retry_count` reaches `max_retries`. The message is kept either way.
    Retry(String),
    /// Failed for good, whatever retries are left: `failed`.
    Fail(String),
    /// Not yet: `pending` again at this time, using up no retry.
    Snooze(DateTime<Utc>),
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Retry(_) => "retry",
            Outcome::Fail(_) => "fail",
            Outcome::Snooze(_) => "snooze",
        }
    }
}

/// One attempt's outcome, for [`finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub job_id: Uuid,
    pub attempt: i32,
    pub outcome: Outcome,
}

/// Claims up to `limit` due pending jobs for `holder`, highest priority then
/// earliest due first, skipping rows other claimers have locked, and starts
/// them all: [`claim_ahead`] with every job starting at once.
pub async fn claim<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    holder: Uuid,
    limit: u32,
    lease: Duration,
) -> Result<Vec<Job>, QueueError> {
    claim_ahead(executor, holder, limit, limit, lease).await
}

/// Claims up to `limit` due pending jobs for `holder`, highest priority then
/// earliest due first, skipping rows other claimers have locked. The lease
/// (holder, expiry, attempt + 1) is set in the same statement. The first
/// `start` of them are started at once (`started_at` set: they have a free
/// slot); the others are held ahead of a slot and must be [`start`]ed
/// before they run. A holder that dies before starting a job costs that
/// job no retry ([`rescue_expired`]). `holder` must be a row of `workers`.
///
/// A claim need not be durable (the engine commits it asynchronously): if
/// the server loses it in a crash, the job is simply pending again, as if
/// its lease had run out.
pub async fn claim_ahead<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    holder: Uuid,
    limit: u32,
    start: u32,
    lease: Duration,
) -> Result<Vec<Job>, QueueError> {
    // walletops_claim (migration 0016): one UPDATE of the rows picked with
    // FOR UPDATE SKIP LOCKED, pinned to the ordered scan of the claim index.
    let mut jobs = sqlx::query_as!(
        Job,
        r#"SELECT id AS "id!", job_type AS "job_type: JobType", status AS "status: JobStatus",
                  wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                  error_message, priority AS "priority!", run_at AS "run_at!", locked_by,
                  locked_until, attempt AS "attempt!", started_at, finished_at, created_at,
                  updated_at
             FROM walletops_claim($1, $2, $3, $4)"#,
        holder,
        i32::try_from(limit).unwrap_or(i32::MAX),
        lease.as_secs_f64(),
        i32::try_from(start).unwrap_or(i32::MAX),
    )
    .fetch_all(executor)
    .await?;
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.run_at.cmp(&b.run_at)));
    Ok(jobs)
}

/// Starts attempts that [`claim_ahead`] held ahead of a slot: sets their
/// `started_at`, from which on a lost lease costs a retry. Returns the ids
/// started; an attempt missing from the answer lost its lease (or let it
/// run out) and must not run. Like a claim, it need not be durable: the
/// handler's first durable write flushes it, and a start lost with its
/// claim leaves the job pending.
pub async fn start<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    holder: Uuid,
    attempts: &[(Uuid, i32)],
) -> Result<Vec<Uuid>, QueueError> {
    if attempts.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts): (Vec<Uuid>, Vec<i32>) = attempts.iter().copied().unzip();
    let started = sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM walletops_start($1, $2, $3) AS s(id)"#,
        holder,
        &ids,
        &attempts,
    )
    .fetch_all(executor)
    .await?;
    Ok(started)
}

/// [`finish`] and [`heartbeat`] call functions of migration 0002 that pin
/// their plans to a hash join; the comment there says why.
///
/// Records many outcomes of `holder`'s attempts in one statement (one
/// durable commit). Retry delays are `min(cap, base * 2^retry_count)` less up
/// to a quarter of random jitter, so that jobs failing together spread out.
/// Returns the jobs whose row changed with their new status; an attempt
/// missing from the answer had lost its lease, and nothing was changed.
pub async fn finish(
    pool: &PgPool,
    holder: Uuid,
    outcomes: &[Finish],
    backoff_base: Duration,
    backoff_cap: Duration,
) -> Result<Vec<(Uuid, JobStatus)>, QueueError> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut attempts = Vec::with_capacity(outcomes.len());
    let mut kinds = Vec::with_capacity(outcomes.len());
    let mut errors: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
    let mut untils: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(outcomes.len());
    for f in outcomes {
        ids.push(f.job_id);
        attempts.push(f.attempt);
        kinds.push(f.outcome.kind());
        errors.push(match &f.outcome {
            Outcome::Retry(e) | Outcome::Fail(e) => Some(e.as_str()),
            _ => None,
        });
        untils.push(match &f.outcome {
            Outcome::Snooze(t) => Some(*t),
            _ => None,
        });
    }
    // walletops_finish (migration 0002): one UPDATE guarded by
    // (id, attempt, holder, status = processing), with a plan that stays
    // linear in the batch whatever the statistics say.
    // The error and snooze arrays hold NULLs, which the macro's array types
    // cannot say: their checks are skipped (`as _`).
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", status AS "status!: JobStatus"
             FROM walletops_finish($1, $2, $3, $4, $5, $6, $7, $8)"#,
        holder,
        &ids,
        &attempts,
        &kinds as _,
        &errors as _,
        &untils as _,
        backoff_base.as_secs_f64(),
        backoff_cap.as_secs_f64(),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.status)).collect())
}

/// Locks the job row of `lease` (FOR SHARE) inside the caller's transaction
/// while the lease still holds, so that a rescue cannot take the job until
/// that transaction ends. `false` when the lease is lost.
pub async fn hold_lease(conn: &mut sqlx::PgConnection, lease: &Lease) -> Result<bool, sqlx::Error> {
    let held = sqlx::query_scalar!(
        "SELECT attempt FROM job_logs
          WHERE id = $1 AND attempt = $2 AND locked_by = $3 AND status = 'processing'
          FOR SHARE",
        lease.job_id,
        lease.attempt,
        lease.holder,
    )
    .fetch_optional(conn)
    .await?;
    Ok(held.is_some())
}

/// Writes what the attempt held by `lease` decided and why (waiting for
/// the energy pool, burning instead of delegating) into the job's row: in
/// `error_message`, which a snooze keeps and a completion clears, so that
/// a waiting job says why it waits; and appended to `data.notes`, which
/// stays. Nothing when the attempt no longer holds the job.
pub async fn note(pool: &PgPool, lease: &Lease, message: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE job_logs
              SET error_message = $4,
                  data = jsonb_set(coalesce(data, '{}'::jsonb), '{notes}',
                                   coalesce(data -> 'notes', '[]'::jsonb) || to_jsonb($4::text))
            WHERE id = $1 AND attempt = $2 AND locked_by = $3 AND status = 'processing'"#,
        lease.job_id,
        lease.attempt,
        lease.holder,
        message,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Renews the leases of the given attempts held by `holder` for another
/// `lease`. Returns the job ids still held; an attempt missing from the
/// answer has lost its lease (rescued, or finished by someone else).
pub async fn heartbeat(
    pool: &PgPool,
    holder: Uuid,
    held: &[(Uuid, i32)],
    lease: Duration,
) -> Result<Vec<Uuid>, QueueError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts): (Vec<Uuid>, Vec<i32>) = held.iter().copied().unzip();
    let renewed = sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM walletops_renew($1, $2, $3, $4) AS id"#,
        holder,
        &ids,
        &attempts,
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await?;
    Ok(renewed)
}

/// When the earliest pending job falls due (it may be in the past); `None`
/// when nothing is pending.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, QueueError> {
    // walletops_earliest_pending (migration 0006): the first claim-index
    // entry of each priority present, not a scan of the pending jobs.
    let due =
        sqlx::query_scalar!(r#"SELECT run_at AS "run_at!" FROM walletops_earliest_pending()"#)
            .fetch_optional(pool)
            .await?;
    Ok(due)
}

/// What one rescue took back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RescueOutcome {
    /// Back to pending, due now (a crash during a run counts as a retry).
    pub requeued: u64,
    /// Held but never started (claimed ahead of a slot): back to pending,
    /// due now, using up no retry.
    pub released: u64,
    /// Out of retries: failed, with a message saying the lease ran out.
    pub failed: u64,
}

impl RescueOutcome {
    pub fn total(&self) -> u64 {
        self.requeued + self.released + self.failed
    }
}

/// Takes back up to [`RESCUE_BATCH`] processing jobs whose lease ran out
/// (or that have none and were not touched for a lease length: rows from
/// plain SQL). Rows are locked and their state re-checked, so a job whose
/// worker completed it a moment before is left as it is. A leased job that
/// never started (`started_at` unset, see [`claim_ahead`]) is only given
/// back: its holder's death is not its failure. A job out of retries whose
/// own effects may still happen (`walletops_job_effects_open`, migration
/// 0018: a transfer signed or broadcast, not yet resolved) is not failed
/// but given one more attempt, which resolves them.
pub async fn rescue_expired(conn: &mut PgConnection) -> Result<RescueOutcome, QueueError> {
    // Each CTE is an index range scan of job_logs_lease that stops at the
    // first live lease (`locked_until < now()`, `locked_until IS NULL`).
    // With both conditions OR-ed into one filter, the scan read every
    // processing entry, including those claims kept appending while it ran:
    // under a fast drain it ran for minutes, and its snapshot kept every
    // claimed job's dead index entry in the claims' way (claims took 1.5 s).
    let lease = crate::settings::lease(&mut *conn).await?;
    let rows = sqlx::query!(
        r#"WITH lapsed AS (
             SELECT id FROM job_logs
              WHERE status = 'processing' AND locked_until < now()
              ORDER BY locked_until
              LIMIT $1
              FOR UPDATE SKIP LOCKED
         ), unleased AS (
             SELECT id FROM job_logs
              WHERE status = 'processing' AND locked_until IS NULL
                AND updated_at < now() - make_interval(secs => $2)
              LIMIT $1
              FOR UPDATE SKIP LOCKED
         ), expired AS (
             SELECT id FROM lapsed UNION ALL SELECT id FROM unleased
         ), decided AS (
             SELECT j.id, j.attempt, j.started_at, x.unstarted,
                    w.host || ':' || w.pid AS worker,
                    format('lease expired on attempt %s: worker %s stopped renewing it; %s',
                           j.attempt,
                           coalesce(w.host || ':' || w.pid, j.locked_by::text, 'unknown'),
                           CASE WHEN x.dead THEN 'out of retries'
                                WHEN x.out_of_retries
                                THEN 'out of retries, but a transfer of its own may still '
                                     'land: one more attempt resolves it'
                                ELSE 'retrying' END) AS message,
                    x.dead
               FROM job_logs j JOIN expired e ON e.id = j.id
                    LEFT JOIN workers w ON w.id = j.locked_by,
                    LATERAL (SELECT j.locked_until IS NOT NULL AND j.started_at IS NULL,
                                    coalesce(j.retry_count, 0) + 1 >= coalesce(j.max_retries, 3))
                        AS y(unstarted, out_of_retries),
                    LATERAL (SELECT y.unstarted, y.out_of_retries,
                                    y.out_of_retries AND NOT y.unstarted
                                        AND NOT walletops_job_effects_open(j.id))
                        AS x(unstarted, out_of_retries, dead)
         ), logged AS (
             -- The attempt history (migration 0019): a rescued attempt
             -- that had started, with its worker as it was.
             INSERT INTO job_attempts (job_id, attempt, worker, started_at, outcome, error)
             SELECT d.id, d.attempt, d.worker, d.started_at, 'rescued', d.message
               FROM decided d
              WHERE NOT d.unstarted
             ON CONFLICT DO NOTHING
         )
         UPDATE job_logs j
            SET status = CASE WHEN d.dead THEN 'failed' ELSE 'pending' END,
                retry_count = CASE WHEN d.unstarted THEN j.retry_count
                                   ELSE coalesce(j.retry_count, 0) + 1 END,
                error_message = CASE WHEN d.unstarted THEN j.error_message ELSE d.message END,
                run_at = now(),
                finished_at = CASE WHEN d.dead THEN now() END,
                locked_until = NULL,
                updated_at = now()
           FROM decided d
          WHERE j.id = d.id
         RETURNING j.status AS "status!: JobStatus", d.unstarted AS "unstarted!""#,
        RESCUE_BATCH,
        lease.as_secs_f64(),
    )
    .fetch_all(conn)
    .await?;
    let mut out = RescueOutcome::default();
    for row in rows {
        match (row.status, row.unstarted) {
            (JobStatus::Failed, _) => out.failed += 1,
            (_, true) => out.released += 1,
            _ => out.requeued += 1,
        }
    }
    Ok(out)
}
