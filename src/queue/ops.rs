//! Enqueueing and the operator actions on single jobs or sets of jobs.
//!
//! Functions taking `&mut PgConnection` run inside whatever transaction the
//! caller has open, so that the caller's own rows (an audit entry) commit or
//! roll back with the change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    AttemptOutcome, AttemptRecord, IdFragment, Job, JobStatus, JobType, NewJob, QueueError,
};

/// The unique index that allows one pending or processing job per
/// (wallet address, job type).
pub(super) const ONE_ACTIVE_INDEX: &str = "job_logs_one_active_per_wallet";

/// The result of [`enqueue`]: the job, and whether this call created it
/// (`false`: the wallet already had a pending or processing job of this type,
/// which is returned instead).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enqueued {
    pub job: Job,
    pub created: bool,
}

/// Enqueues one job, or returns the wallet's pending or processing job of
/// the same type. The unique index decides (no read-then-write): the insert
/// does nothing on conflict, and the job it conflicted with is read back. If
/// that job finished in between, the insert is tried again.
pub async fn enqueue(conn: &mut PgConnection, job: &NewJob) -> Result<Enqueued, QueueError> {
    // Each round either inserts, or finds the job that blocked the insert,
    // or saw that job finish in between; a handful of rounds is plenty.
    const ROUNDS: usize = 8;
    let max_retries = crate::settings::max_retries(&mut *conn).await?;
    for _ in 0..ROUNDS {
        let inserted = sqlx::query_as!(
            Job,
            r#"INSERT INTO job_logs (job_type, status, wallet_address, wallet_id, user_id, data,
                                   priority, run_at, max_retries, updated_at)
             VALUES ($1, 'pending', $2, $3, $4, $5, $6, coalesce($7, now()), $8, now())
             ON CONFLICT (wallet_address, job_type)
                 WHERE status IN ('pending', 'processing') AND wallet_address IS NOT NULL
             DO NOTHING
             RETURNING id, job_type AS "job_type: JobType", status AS "status: JobStatus",
                       wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                       error_message, priority, run_at, locked_by, locked_until, attempt,
                       started_at, finished_at, created_at, updated_at"#,
            job.job_type as _,
            job.wallet_address,
            job.wallet_id,
            job.user_id,
            job.data,
            job.priority,
            job.run_at,
            max_retries,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(job) = inserted {
            return Ok(Enqueued { job, created: true });
        }
        let Some(address) = job.wallet_address.as_deref() else {
            continue;
        };
        if let Some(job) = active_of_wallet(conn, address, job.job_type).await? {
            return Ok(Enqueued {
                job,
                created: false,
            });
        }
    }
    Err(QueueError::Sql(sqlx::Error::Protocol(format!(
        "enqueue of {} for {:?} kept conflicting with a job it could not read \
         (a REPEATABLE READ transaction cannot see it)",
        job.job_type, job.wallet_address
    ))))
}

/// The wallet's pending or processing job of this type (the unique index
/// allows at most one).
async fn active_of_wallet(
    conn: &mut PgConnection,
    address: &str,
    job_type: JobType,
) -> Result<Option<Job>, QueueError> {
    Ok(sqlx::query_as!(
        Job,
        r#"SELECT id, job_type AS "job_type: JobType", status AS "status: JobStatus",
                  wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                  error_message, priority, run_at, locked_by, locked_until, attempt,
                  started_at, finished_at, created_at, updated_at
             FROM job_logs
            WHERE wallet_address = $1 AND job_type = $2
              AND status IN ('pending', 'processing')"#,
        address,
        job_type as _,
    )
    .fetch_optional(conn)
    .await?)
}

/// Enqueues many jobs in one statement. Jobs whose (wallet, type) already
/// has a pending or processing job are skipped; returns how many were
/// inserted.
pub async fn enqueue_many(pool: &PgPool, jobs: &[NewJob]) -> Result<u64, QueueError> {
    enqueue_many_in(&mut *pool.acquire().await?, jobs).await
}

/// [`enqueue_many`] on a given connection (the maintenance leader's).
pub async fn enqueue_many_in(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<u64, QueueError> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let mut types = Vec::with_capacity(jobs.len());
    let mut addresses = Vec::with_capacity(jobs.len());
    let mut wallet_ids = Vec::with_capacity(jobs.len());
    let mut user_ids = Vec::with_capacity(jobs.len());
    let mut data = Vec::with_capacity(jobs.len());
    let mut priorities = Vec::with_capacity(jobs.len());
    let mut run_ats = Vec::with_capacity(jobs.len());
    for job in jobs {
        types.push(job.job_type);
        addresses.push(job.wallet_address.as_deref());
        wallet_ids.push(job.wallet_id);
        user_ids.push(job.user_id);
        data.push(&job.data);
        priorities.push(job.priority);
        run_ats.push(job.run_at);
    }
    let max_retries = crate::settings::max_retries(&mut *conn).await?;
    // The arrays hold NULLs (no wallet, no user, due now), which the
    // macro's array types cannot say: their checks are skipped (`as _`).
    let result = sqlx::query!(
        r#"INSERT INTO job_logs (job_type, status, wallet_address, wallet_id, user_id, data,
                               priority, run_at, max_retries, updated_at)
         SELECT t, 'pending', a, w, u, d, p, coalesce(r, now()), $8, now()
           FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::jsonb[],
                       $6::int2[], $7::timestamptz[]) AS j(t, a, w, u, d, p, r)
         ON CONFLICT (wallet_address, job_type)
                 WHERE status IN ('pending', 'processing') AND wallet_address IS NOT NULL
         DO NOTHING"#,
        &types as _,
        &addresses as _,
        &wallet_ids as _,
        &user_ids as _,
        &data as _,
        &priorities,
        &run_ats as _,
        max_retries,
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// One job by id.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Job, QueueError> {
    sqlx::query_as!(
        Job,
        r#"SELECT id, job_type AS "job_type: JobType", status AS "status: JobStatus",
                  wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                  error_message, priority, run_at, locked_by, locked_until, attempt,
                  started_at, finished_at, created_at, updated_at
             FROM job_logs WHERE id = $1"#,
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(QueueError::NotFound(id))
}

/// The attempts of a job that did not succeed, oldest first: the retries,
/// failures and lease rescues recorded when each ended (a primary key
/// range of `job_attempts`). The job's current or successful attempt is
/// the job row itself.
pub async fn attempts(conn: &mut PgConnection, id: Uuid) -> Result<Vec<AttemptRecord>, QueueError> {
    Ok(sqlx::query_as!(
        AttemptRecord,
        r#"SELECT attempt, worker, started_at, ended_at,
                  outcome AS "outcome: AttemptOutcome", error
             FROM job_attempts WHERE job_id = $1 ORDER BY attempt"#,
        id,
    )
    .fetch_all(conn)
    .await?)
}

/// Jobs whose id starts or ends with `fragment` (a full id: that job),
/// newest first, at most `limit` of them, and how many match in all.
///
/// A prefix is a range of the primary key (`id BETWEEN head000… AND
/// headfff…`); a tail has no index, so the one statement that looks for
/// both reads every row of `job_logs` (about 60 ms per hundred thousand
/// jobs on a small server): a command typed by a person can afford it, and
/// an index of the tails (written on every insert) would not repay it. A
/// full id is one primary-key lookup.
pub async fn find_by_fragment(
    conn: &mut PgConnection,
    fragment: &IdFragment,
    limit: i64,
) -> Result<(Vec<Uuid>, i64), QueueError> {
    if let Some(id) = fragment.full() {
        let found = sqlx::query_scalar!("SELECT id FROM job_logs WHERE id = $1", id)
            .fetch_optional(conn)
            .await?;
        let n = i64::from(found.is_some());
        return Ok((found.into_iter().collect(), n));
    }
    let (low, high) = fragment.prefix_range();
    let rows = sqlx::query!(
        r#"SELECT id, count(*) OVER () AS "total!"
             FROM job_logs
            WHERE id BETWEEN $1 AND $2
               OR right(encode(uuid_send(id), 'hex'), $3) = $4
            ORDER BY id DESC
            LIMIT $5"#,
        low,
        high,
        fragment.hex().len() as i32,
        fragment.hex(),
        limit,
    )
    .fetch_all(conn)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((rows.into_iter().map(|r| r.id).collect(), total))
}

/// Puts a failed or cancelled job back to pending, due now, with its retry
/// count reset (a fresh set of retries; the last error stays until the next
/// outcome). Its `attempt` keeps counting up, so any late answer from an
/// earlier attempt is still refused. Fails with [`QueueError::Duplicate`],
/// naming the other job and changing nothing, when the wallet has another
/// pending or processing job of the same type.
pub async fn retry(conn: &mut PgConnection, id: Uuid) -> Result<Job, QueueError> {
    // A unique violation aborts the transaction it happens in: the update
    // runs in a savepoint of the caller's transaction, so that after one
    // the duplicate can still be read (and the caller's transaction goes on).
    // If the duplicate finished in between, the update is tried again.
    const ROUNDS: usize = 8;
    for _ in 0..ROUNDS {
        let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
        let updated = sqlx::query_as!(
            Job,
            r#"UPDATE job_logs
                SET status = 'pending', run_at = now(), retry_count = 0,
                    locked_by = NULL, locked_until = NULL, finished_at = NULL, updated_at = now()
              WHERE id = $1 AND status IN ('failed', 'cancelled')
              RETURNING id, job_type AS "job_type: JobType", status AS "status: JobStatus",
                        wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                        error_message, priority, run_at, locked_by, locked_until, attempt,
                        started_at, finished_at, created_at, updated_at"#,
            id,
        )
        .fetch_optional(&mut *savepoint)
        .await;
        match updated {
            Ok(Some(job)) => {
                savepoint.commit().await?;
                return Ok(job);
            }
            Ok(None) => {
                savepoint.commit().await?;
                return Err(not_applicable(
                    conn,
                    id,
                    "retry",
                    "only failed or cancelled jobs are retried",
                )
                .await);
            }
            Err(sqlx::Error::Database(e)) if e.constraint() == Some(ONE_ACTIVE_INDEX) => {
                savepoint.rollback().await?;
                let job = get(conn, id).await?;
                let (Some(wallet), Some(job_type)) = (job.wallet_address, job.job_type) else {
                    continue;
                };
                if let Some(existing) = active_of_wallet(conn, &wallet, job_type).await? {
                    return Err(QueueError::Duplicate {
                        wallet,
                        job_type,
                        existing: existing.id,
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(QueueError::Sql(sqlx::Error::Protocol(format!(
        "retry of job {id} kept conflicting with an active job it could not read"
    ))))
}

/// Cancels a pending job. A processing job is refused: its worker is not
/// told to stop, and cancelling it under the worker would free the wallet
/// for a second job while the first still runs. It ends by itself (or by
/// lease rescue if its worker died), and can be cancelled once pending again.
pub async fn cancel(conn: &mut PgConnection, id: Uuid) -> Result<Job, QueueError> {
    let updated = sqlx::query_as!(
        Job,
        r#"UPDATE job_logs
            SET status = 'cancelled', finished_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'pending'
          RETURNING id, job_type AS "job_type: JobType", status AS "status: JobStatus",
                    wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                    error_message, priority, run_at, locked_by, locked_until, attempt,
                    started_at, finished_at, created_at, updated_at"#,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match updated {
        Some(job) => Ok(job),
        None => Err(not_applicable(
            conn,
            id,
            "cancel",
            "only pending jobs are cancelled; a processing job runs to its end",
        )
        .await),
    }
}

/// Deletes every failed job (clears the dead-letter set); returns how many.
/// [`super::failures`] counts them with the same predicate.
pub async fn clear_failed(conn: &mut PgConnection) -> Result<u64, QueueError> {
    let selection = super::JobSelection::status(JobStatus::Failed);
    Ok(
        super::bulk::apply(conn, super::BulkAction::Clear, &selection)
            .await?
            .jobs,
    )
}

/// Takes back every processing job whose lease ran out, exactly as the
/// maintenance rescue does (pending again, or failed when out of retries);
/// returns how many. Jobs whose worker still renews its lease are left alone.
/// [`super::stuck`] counts the jobs this takes back.
pub async fn reset_stuck(conn: &mut PgConnection) -> Result<u64, QueueError> {
    let mut total = 0;
    loop {
        let outcome = super::rescue_expired(&mut *conn).await?;
        total += outcome.total();
        if outcome.total() < super::work::RESCUE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Deletes the jobs last held by `holder` whose data contains `marker` (a
/// benchmark's own jobs); returns how many.
pub async fn delete_marked<'c>(
    executor: impl PgExecutor<'c>,
    holder: Uuid,
    marker: &serde_json::Value,
) -> Result<u64, QueueError> {
    Ok(sqlx::query!(
        "DELETE FROM job_logs WHERE locked_by = $1 AND data @> $2",
        holder,
        marker,
    )
    .execute(executor)
    .await?
    .rows_affected())
}

/// The jobs of one type for a wallet (by id or address) created at or after
/// `since` (all of them when `None`), newest first.
pub async fn of_wallet_since(
    pool: &PgPool,
    job_type: JobType,
    wallet_id: Uuid,
    wallet_address: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Job>, QueueError> {
    Ok(sqlx::query_as!(
        Job,
        r#"SELECT id, job_type AS "job_type: JobType", status AS "status: JobStatus",
                  wallet_address, wallet_id, user_id, data, retry_count, max_retries,
                  error_message, priority, run_at, locked_by, locked_until, attempt,
                  started_at, finished_at, created_at, updated_at
             FROM job_logs
            WHERE job_type = $1 AND (wallet_id = $2 OR wallet_address = $3)
              AND created_at >= coalesce($4, '-infinity'::timestamptz)
            ORDER BY created_at DESC"#,
        job_type as _,
        wallet_id,
        wallet_address,
        since,
    )
    .fetch_all(pool)
    .await?)
}

/// The pending or processing jobs of these wallets: (address, type, job id).
pub async fn active_of_wallets(
    pool: &PgPool,
    addresses: &[&str],
) -> Result<Vec<(String, JobType, Uuid)>, QueueError> {
    let rows = sqlx::query!(
        r#"SELECT wallet_address AS "wallet_address!", job_type AS "job_type!: JobType", id
             FROM job_logs
            WHERE wallet_address = ANY($1) AND status IN ('pending', 'processing')
              AND job_type IS NOT NULL"#,
        addresses as _,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.wallet_address, r.job_type, r.id))
        .collect())
}

/// Where the next page of [`list`] starts: the last row of the page before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl JobCursor {
    /// The cursor after `job` (`None` for a row without `created_at`).
    pub fn after(job: &Job) -> Option<Self> {
        job.created_at.map(|created_at| Self {
            created_at,
            id: job.id,
        })
    }
}

/// Which jobs [`list`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<JobType>,
    /// Prefix of the wallet address.
    pub search: Option<String>,
    /// With `search`: the jobs of these users match as well. The queue knows
    /// no users; its caller says whom the search names (e.g. by email).
    pub search_users: Vec<Uuid>,
    /// At most this many rows, 1 to [`JobFilter::MAX_LIMIT`]; 0 means 50.
    pub limit: u32,
    /// Only rows older than this cursor (the next page).
    pub before: Option<JobCursor>,
}

impl JobFilter {
    pub const MAX_LIMIT: u32 = 1000;
}

/// Jobs matching `filter`, newest first.
///
/// Without a search: one ordered scan (of the status's partial index when a
/// status is asked for). With one, the wallet-address matches and the user
/// matches are separate branches, each planned on its own index. One OR of
/// both was estimated to match half the table and walked the newest-first
/// index past every row (270 ms on a million jobs for a prefix that matched
/// nothing).
pub async fn list(conn: &mut PgConnection, filter: &JobFilter) -> Result<Vec<Job>, QueueError> {
    let limit = i64::from(match filter.limit {
        0 => 50,
        n => n.min(JobFilter::MAX_LIMIT),
    });
    let pattern = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("{}%", escape_like(s)));
    let mut q = QueryBuilder::<Postgres>::new("");
    match &pattern {
        None => {
            q.push("SELECT * FROM job_logs j WHERE true");
            push_filters(&mut q, filter);
            q.push(" ORDER BY j.created_at DESC, j.id DESC LIMIT ")
                .push_bind(limit);
        }
        Some(pattern) => {
            q.push("SELECT * FROM ((SELECT * FROM job_logs j WHERE true");
            push_filters(&mut q, filter);
            q.push(" AND j.wallet_address LIKE ")
                .push_bind(pattern.clone())
                .push(" ORDER BY j.created_at DESC, j.id DESC LIMIT ")
                .push_bind(limit)
                .push(")");
            if !filter.search_users.is_empty() {
                q.push(" UNION ALL (SELECT * FROM job_logs j WHERE true");
                push_filters(&mut q, filter);
                q.push(" AND j.user_id = ANY(")
                    .push_bind(filter.search_users.clone())
                    .push(") AND (j.wallet_address IS NULL OR j.wallet_address NOT LIKE ")
                    .push_bind(pattern.clone())
                    .push(") ORDER BY j.created_at DESC, j.id DESC LIMIT ")
                    .push_bind(limit)
                    .push(")");
            }
            q.push(") matched ORDER BY created_at DESC, id DESC LIMIT ")
                .push_bind(limit);
        }
    }
    let jobs = q
        .build_query_as()
        // Planned for the filter at hand every time (an operator query, not
        // a hot one): a generic plan could not use the partial index of the
        // status asked for, nor the selectivity of the prefix.
        .persistent(false)
        .fetch_all(conn)
        .await?;
    Ok(jobs)
}

/// The status, type and page-cursor conditions of [`list`], each only when
/// asked for.
fn push_filters(q: &mut QueryBuilder<Postgres>, filter: &JobFilter) {
    if let Some(status) = filter.status {
        q.push(" AND j.status = ").push_bind(status);
    }
    if let Some(job_type) = filter.job_type {
        q.push(" AND j.job_type = ").push_bind(job_type);
    }
    if let Some(before) = filter.before {
        q.push(" AND (j.created_at, j.id) < (")
            .push_bind(before.created_at)
            .push(", ")
            .push_bind(before.id)
            .push(")");
    }
}

/// `s` with LIKE's wildcards taken literally.
pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Why an action matched no row: the job is missing or in another state.
async fn not_applicable(
    conn: &mut PgConnection,
    id: Uuid,
    action: &'static str,
    hint: &'static str,
) -> QueueError {
    let status = sqlx::query_scalar!("SELECT status FROM job_logs WHERE id = $1", id)
        .fetch_optional(conn)
        .await;
    match status {
        Ok(None) => QueueError::NotFound(id),
        Ok(Some(status)) => QueueError::InvalidState {
            id,
            status: status.unwrap_or_else(|| "without status".into()),
            action,
            hint,
        },
        Err(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"a%b_c\d"), r"a\%b\_c\\d");
    }
}
