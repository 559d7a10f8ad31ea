//! Reads the live dashboards need beyond [`super::stats`]: per-minute
//! throughput, the jobs behind the health figures, job owners, wallet
//! search, and what the connected database role may do. Every query here is
//! bounded (a time window, a limit or an index range), so a console
//! refreshing every few seconds stays cheap on millions of jobs.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::AdminError;
use crate::db::listen::Channel;

/// The job types the reads here speak of, so that shells over `admin` need
/// not reach into `queue`.
pub use crate::queue::{Job, JobFilter, JobStatus, JobType};

/// Every channel whose notifications mean a dashboard may be out of date:
/// jobs made pending or changing status, runtime switches, audited actions.
pub const CHANGE_CHANNELS: [Channel; 6] = Channel::ALL;

/// Jobs finished in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minute {
    pub completed: u64,
    pub failed: u64,
}

/// Completed and failed jobs per minute over the last `minutes` minutes,
/// oldest first (the current, partial minute last).
pub async fn per_minute(pool: &PgPool, minutes: u32) -> Result<Vec<Minute>, AdminError> {
    let minutes = minutes.clamp(1, 120);
    let rows: Vec<(i32, i64, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM now() - finished_at) / 60)::int AS ago,
                count(*) FILTER (WHERE status = 'completed'),
                count(*) FILTER (WHERE status = 'failed')
           FROM job_logs
          WHERE finished_at >= now() - make_interval(mins => $1)
          GROUP BY 1",
    )
    .bind(minutes as i32)
    .fetch_all(pool)
    .await?;
    let mut series = vec![Minute::default(); minutes as usize];
    for (ago, completed, failed) in rows {
        // Minute 0 (the current one) is the last entry.
        if let Some(slot) = usize::try_from(ago)
            .ok()
            .and_then(|ago| (minutes as usize).checked_sub(ago + 1))
        {
            series[slot] = Minute {
                completed: completed as u64,
                failed: failed as u64,
            };
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

type AgeRow = (Uuid, Option<String>, Option<String>, f64);

fn job_age((id, job_type, wallet_address, seconds): AgeRow) -> JobAge {
    JobAge {
        id,
        job_type: job_type.and_then(|t| t.parse::<JobType>().ok()),
        wallet_address,
        age: Duration::from_secs_f64(seconds.max(0.0)),
    }
}

/// The due pending job that has waited longest (a few index reads).
pub async fn oldest_pending(pool: &PgPool) -> Result<Option<JobAge>, AdminError> {
    let row: Option<AgeRow> = sqlx::query_as(
        "SELECT id, job_type, wallet_address, extract(epoch FROM now() - run_at)::float8
           FROM walletops_earliest_pending() WHERE run_at <= now()",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(job_age))
}

/// Processing jobs whose lease ran out (their worker stopped renewing it),
/// longest-running first, at most `limit`. The age is measured from the
/// attempt's start.
pub async fn stuck(pool: &PgPool, limit: u32) -> Result<Vec<JobAge>, AdminError> {
    let rows: Vec<AgeRow> = sqlx::query_as(
        "SELECT id, job_type, wallet_address,
                extract(epoch FROM now() - coalesce(started_at, updated_at, now()))::float8
           FROM job_logs
          WHERE status = 'processing' AND locked_until < now()
          ORDER BY locked_until LIMIT $1",
    )
    .bind(i64::from(limit.clamp(1, 100)))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(job_age).collect())
}

/// The email (else the name) of each user, for showing job owners.
pub async fn user_labels(
    pool: &PgPool,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, AdminError> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT id, coalesce(email, raw_user_meta_data ->> 'name', raw_user_meta_data ->> 'full_name')
           FROM auth.users WHERE id = ANY($1)",
    )
    .bind(user_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, label)| label.map(|l| (id, l)))
        .collect())
}

/// What the connected database role may do, by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseAccess {
    pub now: DateTime<Utc>,
    pub user: String,
    /// False for a role that may only read (e.g. a member of
    /// `walletops_viewer`): every action would fail with "permission denied".
    pub may_write: bool,
}

/// Asks the database whether the connected role may change jobs and write
/// the audit trail: what every operator action needs.
pub async fn database_access(pool: &PgPool) -> Result<DatabaseAccess, AdminError> {
    let (now, user, may_write): (DateTime<Utc>, String, bool) = sqlx::query_as(
        "SELECT now(), current_user::text,
                has_table_privilege('public.job_logs', 'INSERT, UPDATE, DELETE')
                AND has_function_privilege(
                        'public.walletops_audit(text, text, text, jsonb, text)', 'EXECUTE')",
    )
    .fetch_one(pool)
    .await?;
    Ok(DatabaseAccess {
        now,
        user,
        may_write,
    })
}

/// A wallet found by [`search_wallets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletMatch {
    pub id: Uuid,
    pub address: String,
    pub user_email: Option<String>,
    pub user_name: Option<String>,
    pub role: String,
    pub trx_balance_sun: i64,
    pub usdt_balance: i64,
    /// Pending or processing jobs of this wallet.
    pub active_jobs: Vec<(JobType, Uuid)>,
}

/// The most wallets one search returns.
pub const SEARCH_LIMIT: u32 = 20;

/// Wallets whose address starts with `query`, or whose owner's email or
/// name contains it (case-insensitive); at most [`SEARCH_LIMIT`].
pub async fn search_wallets(pool: &PgPool, query: &str) -> Result<Vec<WalletMatch>, AdminError> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let escaped = escape_like(query);
    type Row = (
        Uuid,
        String,
        Option<String>,
        Option<String>,
        String,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT w.id, w.address, u.email,
                coalesce(u.raw_user_meta_data ->> 'name', u.raw_user_meta_data ->> 'full_name'),
                w.role, w.trx_balance_sun, w.usdt_balance
           FROM user_wallets w LEFT JOIN auth.users u ON u.id = w.user_id
          WHERE w.address LIKE $1 || '%'
             OR u.email ILIKE '%' || $1 || '%'
             OR u.raw_user_meta_data ->> 'name' ILIKE '%' || $1 || '%'
             OR u.raw_user_meta_data ->> 'full_name' ILIKE '%' || $1 || '%'
          ORDER BY (w.address LIKE $1 || '%') DESC, u.email NULLS LAST, w.address
          LIMIT $2",
    )
    .bind(&escaped)
    .bind(i64::from(SEARCH_LIMIT))
    .fetch_all(pool)
    .await?;
    let addresses: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let active: Vec<(String, String, Uuid)> = sqlx::query_as(
        "SELECT wallet_address, job_type, id FROM job_logs
          WHERE wallet_address = ANY($1) AND status IN ('pending', 'processing')",
    )
    .bind(&addresses)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, address, user_email, user_name, role, trx_balance_sun, usdt_balance)| {
                let active_jobs = active
                    .iter()
                    .filter(|(a, _, _)| *a == address)
                    .filter_map(|(_, t, job)| Some((t.parse().ok()?, *job)))
                    .collect();
                WalletMatch {
                    id,
                    address,
                    user_email,
                    user_name,
                    role,
                    trx_balance_sun,
                    usdt_balance,
                    active_jobs,
                }
            },
        )
        .collect())
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(escape_like("a_b%c\\"), "a\\_b\\%c\\\\");
        assert_eq!(escape_like("TJRab"), "TJRab");
    }
}
