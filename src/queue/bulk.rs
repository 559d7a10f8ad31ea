//! Actions on every job that matches a filter (retry the failed jobs of
//! one error, cancel a wallet's pending jobs), the count shown before them,
//! and the failed jobs grouped by error.
//!
//! The count and the action are built from one SQL text ([`push_targets`]),
//! so a confirmation can never count a different set than the action
//! changes; the action also re-checks the status on each row it updates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{JobStatus, JobType, QueueError};

/// The error's class: the message with what differs from job to job (ids,
/// addresses, hashes, numbers) replaced, so the failures of one cause group
/// together ("lease expired on attempt #: worker … stopped renewing it").
/// The groups and the filter on a group both use this one expression.
const ERROR_CLASS: &str = r#"regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        coalesce(j.error_message, ''),
        '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '…', 'g'),
        '\mT[1-9A-HJ-NP-Za-km-z]{33}\M', 'T…', 'g'),
        '\m[0-9a-fA-F]{16,}\M', '…', 'g'),
        '[0-9]+([.,][0-9]+)*', '#', 'g')"#;

/// What a bulk action does to the jobs it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BulkAction {
    /// Failed or cancelled jobs back to pending, as [`super::retry`] does one.
    Retry,
    /// Pending jobs cancelled, as [`super::cancel`] does one.
    Cancel,
    /// Failed jobs deleted (clear failed).
    Clear,
}

impl BulkAction {
    /// The statuses the action applies to.
    pub fn applies_to(self, status: JobStatus) -> bool {
        match self {
            BulkAction::Retry => matches!(status, JobStatus::Failed | JobStatus::Cancelled),
            BulkAction::Cancel => status == JobStatus::Pending,
            BulkAction::Clear => status == JobStatus::Failed,
        }
    }
}

/// Which jobs a bulk action selects. Every field narrows the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSelection {
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobType>,
    /// Text the error message contains (case does not matter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_like: Option<String>,
    /// A failure group's class ([`FailureGroup::class`]), exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// The wallet's address, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_address: Option<String>,
}

impl JobSelection {
    /// Every job in `status`, no other condition.
    pub fn status(status: JobStatus) -> Self {
        Self {
            status,
            job_type: None,
            error_like: None,
            error_class: None,
            wallet_address: None,
        }
    }
}

/// How many jobs a bulk action would touch, or touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCount {
    /// The jobs the action changes.
    pub jobs: u64,
    /// Jobs that match the filter but are left alone: a retry puts back one
    /// job per wallet and type, and none whose wallet already has a pending
    /// or processing job of that type (the queue allows one).
    pub skipped: u64,
}

/// The jobs matching `selection`: `SELECT j.id, j.wallet_address, j.job_type,
/// at FROM job_logs j WHERE ...`, `at` when the job last changed.
fn push_matching(q: &mut QueryBuilder<Postgres>, selection: &JobSelection) {
    q.push(
        "SELECT j.id, j.wallet_address, j.job_type, \
         coalesce(j.finished_at, j.updated_at, j.created_at) AS at \
         FROM job_logs j WHERE j.status = ",
    )
    .push_bind(selection.status);
    if let Some(job_type) = selection.job_type {
        q.push(" AND j.job_type = ").push_bind(job_type);
    }
    if let Some(text) = &selection.error_like {
        q.push(" AND j.error_message ILIKE ")
            .push_bind(format!("%{}%", super::ops::escape_like(text)));
    }
    if let Some(class) = &selection.error_class {
        q.push(format!(" AND {ERROR_CLASS} = "))
            .push_bind(class.clone());
    }
    if let Some(address) = &selection.wallet_address {
        q.push(" AND j.wallet_address = ")
            .push_bind(address.clone());
    }
}

/// The ids the action changes: `SELECT id FROM ...`. The one definition of
/// the set, used by [`count`] and by the action itself.
fn push_targets(q: &mut QueryBuilder<Postgres>, action: BulkAction, selection: &JobSelection) {
    match action {
        BulkAction::Cancel | BulkAction::Clear => {
            q.push("SELECT m.id FROM (");
            push_matching(q, selection);
            q.push(") m");
        }
        // One job per wallet and type (the last to fail), and none whose wallet
        // has an active job of its type: the unique index would refuse it.
        BulkAction::Retry => {
            q.push(
                "SELECT m.id FROM (SELECT DISTINCT ON (coalesce(s.wallet_address, s.id::text), \
                 s.job_type) s.* FROM (",
            );
            push_matching(q, selection);
            q.push(
                ") s ORDER BY coalesce(s.wallet_address, s.id::text), s.job_type, \
                 s.at DESC, s.id DESC) m \
                 WHERE m.wallet_address IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM job_logs a \
                    WHERE a.wallet_address = m.wallet_address AND a.job_type = m.job_type \
                      AND a.status IN ('pending', 'processing'))",
            );
        }
    }
}

/// How many jobs `action` on `selection` would change now, and how many
/// matching ones it would leave alone.
pub async fn count(
    conn: &mut PgConnection,
    action: BulkAction,
    selection: &JobSelection,
) -> Result<BulkCount, QueueError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT (SELECT count(*) FROM (");
    push_targets(&mut q, action, selection);
    q.push(") t), (SELECT count(*) FROM (");
    push_matching(&mut q, selection);
    q.push(") m)");
    let (jobs, matching): (i64, i64) = q.build_query_as().persistent(false).fetch_one(conn).await?;
    let jobs = u64::try_from(jobs).unwrap_or(0);
    Ok(BulkCount {
        jobs,
        skipped: u64::try_from(matching).unwrap_or(0).saturating_sub(jobs),
    })
}

/// Runs `action` on the jobs [`count`] counts; returns what it changed.
/// Runs in the caller's transaction; a job that changed status in between
/// is left alone (the status is checked again on each row).
pub async fn apply(
    conn: &mut PgConnection,
    action: BulkAction,
    selection: &JobSelection,
) -> Result<BulkCount, QueueError> {
    // A job enqueued for the same wallet and type while the update runs
    // breaks the unique index: the update runs in a savepoint and is tried
    // again, and the next round's set leaves that wallet out.
    const ROUNDS: usize = 8;
    for _ in 0..ROUNDS {
        let before = count(&mut *conn, action, selection).await?;
        let mut q = QueryBuilder::<Postgres>::new(match action {
            BulkAction::Retry => {
                "UPDATE job_logs SET status = 'pending', run_at = now(), retry_count = 0, \
                 locked_by = NULL, locked_until = NULL, finished_at = NULL, updated_at = now() \
                 WHERE id IN ("
            }
            BulkAction::Cancel => {
                "UPDATE job_logs SET status = 'cancelled', finished_at = now(), \
                 updated_at = now() WHERE id IN ("
            }
            BulkAction::Clear => "DELETE FROM job_logs WHERE id IN (",
        });
        push_targets(&mut q, action, selection);
        q.push(") AND status = ").push_bind(selection.status);
        let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
        match q.build().persistent(false).execute(&mut *savepoint).await {
            Ok(done) => {
                savepoint.commit().await?;
                let jobs = done.rows_affected();
                let matching = before.jobs + before.skipped;
                return Ok(BulkCount {
                    jobs,
                    skipped: matching.saturating_sub(jobs),
                });
            }
            Err(sqlx::Error::Database(e))
                if e.constraint() == Some(super::ops::ONE_ACTIVE_INDEX) =>
            {
                savepoint.rollback().await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(QueueError::Sql(sqlx::Error::Protocol(
        "a bulk retry kept conflicting with jobs enqueued while it ran".into(),
    )))
}

/// Failed jobs with one error class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct FailureGroup {
    /// The message with ids and numbers replaced: the group's key, and what
    /// [`JobSelection::error_class`] selects.
    pub class: String,
    /// The newest failed job's own message.
    pub example: String,
    pub count: i64,
    /// When the newest of them failed.
    pub newest: Option<DateTime<Utc>>,
    /// The job types among them.
    pub job_types: Vec<String>,
    /// The newest of them.
    pub newest_job: Uuid,
}

/// The failed jobs: how many, and the largest groups by error class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    /// Every failed job: what clear-failed deletes.
    pub total: u64,
    /// How many of them the groups cover: the newest [`GROUPED_AT_MOST`].
    pub grouped: u64,
    /// Largest first (newest first among equals), at most as many as asked.
    pub groups: Vec<FailureGroup>,
    /// How many groups there are in all.
    pub group_count: u64,
}

/// Failed jobs read for the groups, newest first: a console refreshes them
/// on every change, and a pile of failures is when it must stay quick
/// (3,000 take about 40 ms, most of it classifying messages).
pub const GROUPED_AT_MOST: i64 = 5_000;

/// The failed jobs grouped by error class, the `shown` largest groups, over
/// the newest [`GROUPED_AT_MOST`] failed jobs (the total counts them all).
/// Reads the failed jobs only, through their partial index (migration
/// 0002's `job_logs_failed_created`), never the completed ones.
pub async fn failures(pool: &PgPool, shown: u32) -> Result<Failures, QueueError> {
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "WITH failed AS (SELECT j.id, j.job_type, j.error_message, \
                coalesce(j.finished_at, j.updated_at) AS at, {ERROR_CLASS} AS class \
           FROM job_logs j WHERE j.status = 'failed' \
          ORDER BY j.created_at DESC, j.id DESC LIMIT {GROUPED_AT_MOST}), \
         groups AS (SELECT class, count(*) AS count, max(at) AS newest, \
                (array_agg(coalesce(error_message, '') ORDER BY at DESC NULLS LAST, id DESC))[1] \
                    AS example, \
                (array_agg(id ORDER BY at DESC NULLS LAST, id DESC))[1] AS newest_job, \
                array_agg(DISTINCT coalesce(job_type, '')) AS job_types \
           FROM failed GROUP BY class) \
         SELECT class, example, count, newest, job_types, newest_job, \
                (SELECT count(*) FROM groups) AS group_count, \
                (SELECT count(*) FROM failed) AS grouped \
           FROM groups ORDER BY count DESC, newest DESC NULLS LAST, class LIMIT "
    ));
    q.push_bind(i64::from(shown));
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        group: FailureGroup,
        group_count: i64,
        grouped: i64,
    }
    let rows: Vec<Row> = q.build_query_as().persistent(false).fetch_all(pool).await?;
    let total = count(
        &mut *pool.acquire().await?,
        BulkAction::Clear,
        &JobSelection::status(JobStatus::Failed),
    )
    .await?;
    Ok(Failures {
        total: total.jobs,
        grouped: rows
            .first()
            .map_or(0, |r| u64::try_from(r.grouped).unwrap_or(0)),
        group_count: rows
            .first()
            .map_or(0, |r| u64::try_from(r.group_count).unwrap_or(0)),
        groups: rows.into_iter().map(|r| r.group).collect(),
    })
}
