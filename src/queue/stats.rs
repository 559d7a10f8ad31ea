//! Figures for the console, the API and health. Each is cheap at millions of
//! rows: counts come from the maintained `job_counts` table, the others from
//! partial or ordered indexes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use uuid::Uuid;

use super::{JobStatus, JobType, QueueError};

/// Jobs by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub pending: i64,
    pub processing: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

impl StatusCounts {
    pub fn total(&self) -> i64 {
        self.pending + self.processing + self.completed + self.failed + self.cancelled
    }

    fn add(&mut self, status: JobStatus, n: i64) {
        match status {
            JobStatus::Pending => self.pending += n,
            JobStatus::Processing => self.processing += n,
            JobStatus::Completed => self.completed += n,
            JobStatus::Failed => self.failed += n,
            JobStatus::Cancelled => self.cancelled += n,
        }
    }
}

/// Exact job counts, overall and per job type (every type present, in
/// [`JobType::ALL`] order). Rows with a NULL or unknown status or type
/// (plain SQL) are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub total: StatusCounts,
    pub by_type: Vec<(JobType, StatusCounts)>,
}

/// Reads the maintained counts (folded totals plus deltas not yet folded).
/// Cost depends on the number of (status, type) pairs and unfolded deltas,
/// not on the number of jobs.
pub async fn counts(pool: &PgPool) -> Result<QueueCounts, QueueError> {
    // Status and type stay text here: the triggers count a NULL as '', which
    // no enum decodes, and such rows are to be left out, not fail the read.
    let rows = sqlx::query!(
        r#"SELECT status AS "status!", job_type AS "job_type!", sum(n)::bigint AS "n!" FROM (
             SELECT status, job_type, n FROM job_counts
             UNION ALL
             SELECT status, job_type, n FROM job_count_deltas
         ) c
         GROUP BY status, job_type"#,
    )
    .fetch_all(pool)
    .await?;
    let mut counts = QueueCounts {
        total: StatusCounts::default(),
        by_type: JobType::ALL
            .iter()
            .map(|t| (*t, StatusCounts::default()))
            .collect(),
    };
    for row in rows {
        let (Ok(status), Ok(job_type)) = (
            row.status.parse::<JobStatus>(),
            row.job_type.parse::<JobType>(),
        ) else {
            continue;
        };
        counts.total.add(status, row.n);
        if let Some((_, c)) = counts.by_type.iter_mut().find(|(t, _)| *t == job_type) {
            c.add(status, row.n);
        }
    }
    Ok(counts)
}

/// Jobs that finished within one window before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Throughput {
    pub window_seconds: u64,
    pub completed: i64,
    pub failed: i64,
}

/// Completed and failed jobs over each window (e.g. 1, 5 and 15 minutes),
/// through the `finished_at` index.
pub async fn throughput(
    pool: &PgPool,
    windows: &[Duration],
) -> Result<Vec<Throughput>, QueueError> {
    let seconds: Vec<f64> = windows.iter().map(Duration::as_secs_f64).collect();
    let longest = seconds.iter().copied().fold(0.0, f64::max);
    let rows = sqlx::query!(
        r#"SELECT w AS "w!",
                count(*) FILTER (WHERE j.status = 'completed') AS "completed!",
                count(*) FILTER (WHERE j.status = 'failed') AS "failed!"
           FROM unnest($1::float8[]) AS w
           LEFT JOIN (SELECT finished_at, status FROM job_logs
                       WHERE finished_at >= now() - make_interval(secs => $2)) j
                  ON j.finished_at >= now() - make_interval(secs => w)
          GROUP BY w"#,
        &seconds,
        longest,
    )
    .fetch_all(pool)
    .await?;
    Ok(windows
        .iter()
        .map(|w| {
            let (completed, failed) = rows
                .iter()
                .find(|r| r.w == w.as_secs_f64())
                .map_or((0, 0), |r| (r.completed, r.failed));
            Throughput {
                window_seconds: w.as_secs(),
                completed,
                failed,
            }
        })
        .collect())
}

/// One job type's figures for one minute of the recent past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryMinute {
    /// The minute's start, by the database clock.
    pub minute: DateTime<Utc>,
    pub job_type: JobType,
    /// Jobs that finished in the minute.
    pub completed: u64,
    pub failed: u64,
    /// Jobs waiting and running at the minute's end (now, for the current
    /// minute).
    pub pending: u64,
    pub processing: u64,
}

/// Per minute and job type over the last `minutes` minutes (1 to 120),
/// oldest first, the current partial minute last: jobs finished, and the
/// queue depth at each minute's end.
///
/// The database keeps no depth history, so it is worked back from the
/// maintained counts of now: only jobs whose state changed in the window
/// (created or finished in it: two index ranges; or running now: a partial
/// index) can have been in another state then, and their timestamps say
/// which. A retried job counts as waiting until its last attempt started.
/// Nothing scans the table: the cost follows the jobs of the window.
pub async fn history(pool: &PgPool, minutes: u32) -> Result<Vec<HistoryMinute>, QueueError> {
    let minutes = minutes.clamp(1, 120);
    let now = counts(pool).await?;
    let rows = sqlx::query!(
        r#"WITH b AS (
               SELECT m, least(m + interval '1 minute', now()) AS t
                 FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $1 - 1),
                                      date_trunc('minute', now()), interval '1 minute') AS m
           ), changed AS (
               SELECT id, job_type, status, created_at, started_at, finished_at FROM job_logs
                WHERE created_at >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
               UNION
               SELECT id, job_type, status, created_at, started_at, finished_at FROM job_logs
                WHERE finished_at >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
               UNION
               SELECT id, job_type, status, created_at, started_at, finished_at FROM job_logs
                WHERE status = 'processing'
           )
           SELECT b.m AS "minute!", c.job_type,
                  count(*) FILTER (WHERE c.status = 'completed' AND c.finished_at >= b.m
                                     AND c.finished_at < b.m + interval '1 minute') AS "completed!",
                  count(*) FILTER (WHERE c.status = 'failed' AND c.finished_at >= b.m
                                     AND c.finished_at < b.m + interval '1 minute') AS "failed!",
                  count(*) FILTER (WHERE c.created_at <= b.t AND CASE c.status
                                       WHEN 'pending' THEN true
                                       WHEN 'processing' THEN coalesce(c.started_at > b.t, true)
                                       ELSE coalesce(c.started_at, c.finished_at) > b.t END)
                    - count(*) FILTER (WHERE c.status = 'pending') AS "pending_shift!",
                  count(*) FILTER (WHERE c.started_at <= b.t AND CASE c.status
                                       WHEN 'processing' THEN true
                                       WHEN 'pending' THEN false
                                       ELSE c.finished_at > b.t END)
                    - count(*) FILTER (WHERE c.status = 'processing') AS "processing_shift!"
             FROM b LEFT JOIN changed c ON c.job_type IS NOT NULL
            GROUP BY b.m, c.job_type
            ORDER BY b.m"#,
        minutes as i32,
    )
    .fetch_all(pool)
    .await?;
    // Every minute has a row (with no type when no job changed in it).
    let mut minutes_seen: Vec<DateTime<Utc>> = rows.iter().map(|r| r.minute).collect();
    minutes_seen.dedup();
    let mut series = Vec::with_capacity(minutes_seen.len() * JobType::ALL.len());
    for minute in minutes_seen {
        for (job_type, depth) in &now.by_type {
            let row = rows.iter().find(|r| {
                r.minute == minute && r.job_type.as_deref().map(str::parse) == Some(Ok(*job_type))
            });
            let (completed, failed, pending_shift, processing_shift) = row
                .map_or((0, 0, 0, 0), |r| {
                    (r.completed, r.failed, r.pending_shift, r.processing_shift)
                });
            let clamp = |n: i64| u64::try_from(n).unwrap_or(0);
            series.push(HistoryMinute {
                minute,
                job_type: *job_type,
                completed: clamp(completed),
                failed: clamp(failed),
                pending: clamp(depth.pending + pending_shift),
                processing: clamp(depth.processing + processing_shift),
            });
        }
    }
    Ok(series)
}

/// A job named on a dashboard: the oldest pending one or a stuck one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAge {
    pub id: Uuid,
    pub job_type: Option<JobType>,
    pub wallet_address: Option<String>,
    /// Waiting (pending) or running past its lease (stuck) for this long.
    pub age: Duration,
}

fn age(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}

/// The due pending job that has waited longest; `None` when none is due.
pub async fn oldest_pending(pool: &PgPool) -> Result<Option<JobAge>, QueueError> {
    // The earliest pending job, if it is due: a few index reads (0006).
    let row = sqlx::query!(
        r#"SELECT id AS "id!", job_type AS "job_type: JobType", wallet_address,
                  extract(epoch FROM now() - run_at)::float8 AS "waited!"
             FROM walletops_earliest_pending() WHERE run_at <= now()"#,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| JobAge {
        id: r.id,
        job_type: r.job_type,
        wallet_address: r.wallet_address,
        age: age(r.waited),
    }))
}

/// How long the oldest due pending job has waited; `None` when none is due.
pub async fn oldest_pending_age(pool: &PgPool) -> Result<Option<Duration>, QueueError> {
    Ok(oldest_pending(pool).await?.map(|j| j.age))
}

/// The stuck jobs: how many, and the longest stuck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stuck {
    pub total: i64,
    /// Longest past its lease first; the age is measured from the attempt's
    /// start.
    pub longest: Vec<JobAge>,
}

/// The one definition of a stuck job: processing, and its lease ran out
/// (its worker stopped renewing it), or it has no lease and was not touched
/// for a lease length (rows from plain SQL). These are exactly the jobs
/// [`super::rescue_expired`] (and so [`super::reset_stuck`]) takes back,
/// which is why the health figure, the dashboards and the console's reset
/// confirmation all count them here. `shown` caps the jobs listed, not the
/// total.
pub async fn stuck(pool: &PgPool, shown: u32) -> Result<Stuck, QueueError> {
    let lease = crate::settings::lease(pool).await?;
    // Two range scans of job_logs_lease, as in the rescue (see there); the
    // count comes back on every row, and on the one row of a LEFT JOIN that
    // matched nothing when no job is listed.
    let rows = sqlx::query!(
        r#"WITH stuck AS (
             SELECT id, job_type, wallet_address, locked_until, updated_at, started_at
               FROM job_logs
              WHERE status = 'processing' AND locked_until < now()
             UNION ALL
             SELECT id, job_type, wallet_address, locked_until, updated_at, started_at
               FROM job_logs
              WHERE status = 'processing' AND locked_until IS NULL
                AND updated_at < now() - make_interval(secs => $2)
         )
         SELECT n.total AS "total!", s.id AS "id?", s.job_type AS "job_type?: JobType",
                s.wallet_address AS "wallet_address?",
                extract(epoch FROM now() - coalesce(s.started_at, s.updated_at, now()))::float8
                    AS "running?"
           FROM (SELECT count(*) AS total FROM stuck) n
           LEFT JOIN LATERAL (SELECT * FROM stuck
                               ORDER BY coalesce(locked_until, updated_at), id
                               LIMIT $1) s ON true"#,
        i64::from(shown),
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let longest = rows
        .into_iter()
        .filter_map(|r| {
            Some(JobAge {
                id: r.id?,
                job_type: r.job_type,
                wallet_address: r.wallet_address,
                age: age(r.running.unwrap_or(0.0)),
            })
        })
        .collect();
    Ok(Stuck { total, longest })
}

/// How many jobs are stuck (see [`stuck`]).
pub async fn stuck_count(pool: &PgPool) -> Result<i64, QueueError> {
    Ok(stuck(pool, 0).await?.total)
}
