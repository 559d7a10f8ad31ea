//! Reads the live dashboards need beyond [`super::stats`]: per-minute
//! history, the jobs behind the health figures, job owners, wallet
//! search, and what the connected database role may do. Every query here is
//! bounded (a time window, a limit or an index range), so a console
//! refreshing every few seconds stays cheap on millions of jobs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::AdminError;
use crate::db::listen::Channel;
use crate::queue;
use crate::wallets::WalletRole;

/// The job types the reads here speak of, so that shells over `admin` need
/// not reach into `queue`.
pub use crate::queue::{HistoryMinute, Job, JobAge, JobFilter, JobStatus, JobType, Stuck};

/// Every channel whose notifications mean a dashboard may be out of date:
/// jobs made pending or changing status, runtime switches, audited actions.
pub const CHANGE_CHANNELS: [Channel; 6] = Channel::ALL;

/// Jobs finished and queue depth per minute and job type over the last
/// `minutes` minutes (1 to 120), oldest first, the current partial minute
/// last. Its cost follows the jobs of the window, not the table: see
/// [`queue::history`].
pub async fn history(pool: &PgPool, minutes: u32) -> Result<Vec<HistoryMinute>, AdminError> {
    Ok(queue::history(pool, minutes).await?)
}

/// The due pending job that has waited longest (a few index reads).
pub async fn oldest_pending(pool: &PgPool) -> Result<Option<JobAge>, AdminError> {
    Ok(queue::oldest_pending(pool).await?)
}

/// The stuck jobs (processing past their lease: what reset-processing takes
/// back): how many, and the longest-running first, at most `limit` (1 to
/// 100) of them. The age is measured from the attempt's start.
pub async fn stuck(pool: &PgPool, limit: u32) -> Result<Stuck, AdminError> {
    Ok(queue::stuck(pool, limit.clamp(1, 100)).await?)
}

/// The email (else the name) of each user, for showing job owners.
pub async fn user_labels(
    pool: &PgPool,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, AdminError> {
    Ok(crate::wallets::users::labels(pool, user_ids).await?)
}

/// The users whose email starts with `prefix` (case-insensitive, wildcards
/// literal): whom a job search names besides wallet addresses.
pub async fn users_with_email_prefix(
    conn: &mut PgConnection,
    prefix: &str,
) -> Result<Vec<Uuid>, AdminError> {
    Ok(crate::wallets::users::with_email_like(conn, &format!("{}%", escape_like(prefix))).await?)
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
    pub role: WalletRole,
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
    let rows =
        crate::wallets::lookup::search(pool, &escape_like(query), i64::from(SEARCH_LIMIT)).await?;
    let addresses: Vec<&str> = rows.iter().map(|r| r.address.as_str()).collect();
    let active = queue::active_of_wallets(pool, &addresses).await?;
    Ok(rows
        .into_iter()
        .map(|w| {
            let active_jobs = active
                .iter()
                .filter(|(a, _, _)| *a == w.address)
                .map(|(_, t, job)| (*t, *job))
                .collect();
            WalletMatch {
                id: w.id,
                address: w.address,
                user_email: w.user_email,
                user_name: w.user_name,
                role: w.role,
                trx_balance_sun: w.trx_balance_sun,
                usdt_balance: w.usdt_balance,
                active_jobs,
            }
        })
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
