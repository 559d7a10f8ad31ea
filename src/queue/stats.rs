//! Figures for the console, the API and health. Each is cheap at millions of
//! rows: counts come from the maintained `job_counts` table, the others from
//! partial or ordered indexes.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

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
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT status, job_type, sum(n)::bigint FROM (
             SELECT status, job_type, n FROM job_counts
             UNION ALL
             SELECT status, job_type, n FROM job_count_deltas
         ) c
         GROUP BY status, job_type",
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
    for (status, job_type, n) in rows {
        let (Ok(status), Ok(job_type)) = (status.parse::<JobStatus>(), job_type.parse::<JobType>())
        else {
            continue;
        };
        counts.total.add(status, n);
        if let Some((_, c)) = counts.by_type.iter_mut().find(|(t, _)| *t == job_type) {
            c.add(status, n);
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
    let rows: Vec<(f64, i64, i64)> = sqlx::query_as(
        "SELECT w,
                count(*) FILTER (WHERE j.status = 'completed'),
                count(*) FILTER (WHERE j.status = 'failed')
           FROM unnest($1::float8[]) AS w
           LEFT JOIN (SELECT finished_at, status FROM job_logs
                       WHERE finished_at >= now() - make_interval(secs => $2)) j
                  ON j.finished_at >= now() - make_interval(secs => w)
          GROUP BY w",
    )
    .bind(&seconds)
    .bind(longest)
    .fetch_all(pool)
    .await?;
    Ok(windows
        .iter()
        .map(|w| {
            let (completed, failed) = rows
                .iter()
                .find(|(s, _, _)| *s == w.as_secs_f64())
                .map_or((0, 0), |(_, c, f)| (*c, *f));
            Throughput {
                window_seconds: w.as_secs(),
                completed,
                failed,
            }
        })
        .collect())
}

/// How long the oldest due pending job has waited; `None` when none is due.
pub async fn oldest_pending_age(pool: &PgPool) -> Result<Option<Duration>, QueueError> {
    // The earliest pending job, if it is due: a few index reads (0006).
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - run_at)::float8
           FROM walletops_earliest_pending() WHERE run_at <= now()",
    )
    .fetch_optional(pool)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// Processing jobs whose lease has run out (their worker stopped renewing
/// it); rescue takes them back.
pub async fn stuck_count(pool: &PgPool) -> Result<i64, QueueError> {
    let lease = crate::settings::lease(pool).await?;
    // Two range scans of job_logs_lease, as in the rescue (see there).
    let n = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM job_logs
                  WHERE status = 'processing' AND locked_until < now())
              + (SELECT count(*) FROM job_logs
                  WHERE status = 'processing' AND locked_until IS NULL
                    AND updated_at < now() - make_interval(secs => $1))",
    )
    .bind(lease.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(n)
}
