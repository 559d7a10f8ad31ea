//! Enqueueing and the operator actions on single jobs or sets of jobs.
//!
//! Functions taking `&mut PgConnection` run inside whatever transaction the
//! caller has open, so that the caller's own rows (an audit entry) commit or
//! roll back with the change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Job, JobStatus, JobType, NewJob, QueueError};

/// The unique index that allows one pending or processing job per
/// (wallet address, job type).
const ONE_ACTIVE_INDEX: &str = "job_logs_one_active_per_wallet";

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
        let inserted: Option<Job> = sqlx::query_as(
            "INSERT INTO job_logs (job_type, status, wallet_address, wallet_id, user_id, data,
                                   priority, run_at, max_retries, updated_at)
             VALUES ($1, 'pending', $2, $3, $4, $5, $6, coalesce($7, now()), $8, now())
             ON CONFLICT (wallet_address, job_type)
                 WHERE status IN ('pending', 'processing') AND wallet_address IS NOT NULL
             DO NOTHING
             RETURNING *",
        )
        .bind(job.job_type)
        .bind(&job.wallet_address)
        .bind(job.wallet_id)
        .bind(job.user_id)
        .bind(&job.data)
        .bind(job.priority)
        .bind(job.run_at)
        .bind(max_retries)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(job) = inserted {
            return Ok(Enqueued { job, created: true });
        }
        let existing: Option<Job> = sqlx::query_as(
            "SELECT * FROM job_logs
              WHERE wallet_address = $1 AND job_type = $2
                AND status IN ('pending', 'processing')",
        )
        .bind(&job.wallet_address)
        .bind(job.job_type)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(job) = existing {
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

/// Enqueues many jobs in one statement. Jobs whose (wallet, type) already
/// has a pending or processing job are skipped; returns how many were
/// inserted.
pub async fn enqueue_many(pool: &PgPool, jobs: &[NewJob]) -> Result<u64, QueueError> {
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
    let max_retries = crate::settings::max_retries(pool).await?;
    let result = sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, wallet_id, user_id, data,
                               priority, run_at, max_retries, updated_at)
         SELECT t, 'pending', a, w, u, d, p, coalesce(r, now()), $8, now()
           FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::jsonb[],
                       $6::int2[], $7::timestamptz[]) AS j(t, a, w, u, d, p, r)
         ON CONFLICT (wallet_address, job_type)
                 WHERE status IN ('pending', 'processing') AND wallet_address IS NOT NULL
         DO NOTHING",
    )
    .bind(&types)
    .bind(&addresses)
    .bind(&wallet_ids)
    .bind(&user_ids)
    .bind(&data)
    .bind(&priorities)
    .bind(&run_ats)
    .bind(max_retries)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// One job by id.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Job, QueueError> {
    sqlx::query_as("SELECT * FROM job_logs WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(QueueError::NotFound(id))
}

/// Puts a failed or cancelled job back to pending, due now, with its retry
/// count reset (a fresh set of retries; the last error stays until the next
/// outcome). Its `attempt` keeps counting up, so any late answer from an
/// earlier attempt is still refused. Fails with [`QueueError::Duplicate`]
/// when the wallet has another pending or processing job of the same type.
pub async fn retry(conn: &mut PgConnection, id: Uuid) -> Result<Job, QueueError> {
    let updated = sqlx::query_as(
        "UPDATE job_logs
            SET status = 'pending', run_at = now(), retry_count = 0,
                locked_by = NULL, locked_until = NULL, finished_at = NULL, updated_at = now()
          WHERE id = $1 AND status IN ('failed', 'cancelled')
          RETURNING *",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await;
    match updated {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(not_applicable(
            conn,
            id,
            "retry",
            "only failed or cancelled jobs are retried",
        )
        .await),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(ONE_ACTIVE_INDEX) => {
            let job = get(conn, id).await?;
            let existing: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM job_logs
                  WHERE wallet_address = $1 AND job_type = $2
                    AND status IN ('pending', 'processing')",
            )
            .bind(&job.wallet_address)
            .bind(job.job_type)
            .fetch_optional(&mut *conn)
            .await?;
            Err(QueueError::Duplicate {
                wallet: job.wallet_address.unwrap_or_default(),
                job_type: job.job_type.unwrap_or(JobType::Sync),
                existing: existing.unwrap_or(id),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Cancels a pending job. A processing job is refused: its worker is not
/// told to stop, and cancelling it under the worker would free the wallet
/// for a second job while the first still runs. It ends by itself (or by
/// lease rescue if its worker died), and can be cancelled once pending again.
pub async fn cancel(conn: &mut PgConnection, id: Uuid) -> Result<Job, QueueError> {
    let updated = sqlx::query_as(
        "UPDATE job_logs
            SET status = 'cancelled', finished_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'pending'
          RETURNING *",
    )
    .bind(id)
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
pub async fn clear_failed(conn: &mut PgConnection) -> Result<u64, QueueError> {
    let result = sqlx::query("DELETE FROM job_logs WHERE status = 'failed'")
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

/// Takes back every processing job whose lease ran out, exactly as the
/// maintenance rescue does (pending again, or failed when out of retries);
/// returns how many. Jobs whose worker still renews its lease are left alone.
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
    /// Prefix of the wallet address, or of the user's email (case-insensitive).
    pub search: Option<String>,
    /// At most this many rows, 1 to [`JobFilter::MAX_LIMIT`]; 0 means 50.
    pub limit: u32,
    /// Only rows older than this cursor (the next page).
    pub before: Option<JobCursor>,
}

impl JobFilter {
    pub const MAX_LIMIT: u32 = 1000;
}

/// The filters every [`list`] query applies: status ($1), job type ($2) and
/// the page cursor ($4, $5). A macro so that the queries below stay
/// `&'static str`.
macro_rules! list_filters {
    () => {
        "($1::text IS NULL OR j.status = $1)
         AND ($2::text IS NULL OR j.job_type = $2)
         AND ($4::timestamptz IS NULL OR (j.created_at, j.id) < ($4, $5::uuid))"
    };
}

/// [`list`] without a search: one ordered scan (of the status's partial
/// index when a status is asked for).
const LIST: &str = concat!(
    "SELECT * FROM job_logs j WHERE ",
    list_filters!(),
    " ORDER BY j.created_at DESC, j.id DESC LIMIT $6"
);

/// [`list`] with a search ($3, a LIKE prefix): the wallet-address matches
/// and the user-email matches in separate branches, each planned on its own
/// index. One OR of both was estimated to match half the table and walked
/// the newest-first index past every row (270 ms on a million jobs for a
/// prefix that matched nothing).
const LIST_SEARCH: &str = concat!(
    "SELECT * FROM (
        (SELECT * FROM job_logs j WHERE ",
    list_filters!(),
    " AND j.wallet_address LIKE $3
          ORDER BY j.created_at DESC, j.id DESC LIMIT $6)
      UNION ALL
        (SELECT * FROM job_logs j WHERE ",
    list_filters!(),
    " AND j.user_id IN (SELECT u.id FROM auth.users u WHERE lower(u.email) LIKE lower($3))
          AND (j.wallet_address IS NULL OR j.wallet_address NOT LIKE $3)
          ORDER BY j.created_at DESC, j.id DESC LIMIT $6)
     ) matched
     ORDER BY created_at DESC, id DESC
     LIMIT $6"
);

/// Jobs matching `filter`, newest first.
pub async fn list(conn: &mut PgConnection, filter: &JobFilter) -> Result<Vec<Job>, QueueError> {
    let limit = match filter.limit {
        0 => 50,
        n => n.min(JobFilter::MAX_LIMIT),
    };
    let pattern = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("{}%", escape_like(s)));
    let sql = if pattern.is_some() { LIST_SEARCH } else { LIST };
    let jobs = sqlx::query_as(sql)
        // Planned for the filter at hand every time (an operator query, not
        // a hot one): a generic plan could not use the partial index of the
        // status asked for, nor the selectivity of the prefix.
        .persistent(false)
        .bind(filter.status)
        .bind(filter.job_type)
        .bind(pattern)
        .bind(filter.before.map(|c| c.created_at))
        .bind(filter.before.map(|c| c.id))
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?;
    Ok(jobs)
}

/// `s` with LIKE's wildcards taken literally.
fn escape_like(s: &str) -> String {
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
    let status: Result<Option<Option<String>>, _> =
        sqlx::query_scalar("SELECT status FROM job_logs WHERE id = $1")
            .bind(id)
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
