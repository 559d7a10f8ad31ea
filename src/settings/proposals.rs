//! The `config_proposals` table: changes to the keys that move money, which
//! need two admins and time. Written only through the database's SECURITY
//! DEFINER functions (migrations/0009_config_proposals.sql, and 0010 for a
//! gas or treasury wallet's activation `wallet:ADDRESS`), which prove the
//! actor themselves and write the audit row in the same transaction; the
//! role checks and refusals in words are `admin::proposals`'.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::SettingsError;
use crate::tron::Address;

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalStatus {
    /// Waiting for a second admin.
    Pending,
    /// Approved; takes effect at `due_at`.
    Approved,
    /// In effect.
    Applied,
    Cancelled,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Approved => "approved",
            ProposalStatus::Applied => "applied",
            ProposalStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProposalStatus {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => ProposalStatus::Pending,
            "approved" => ProposalStatus::Approved,
            "applied" => ProposalStatus::Applied,
            "cancelled" => ProposalStatus::Cancelled,
            other => {
                return Err(SettingsError::Corrupt(format!("proposal status {other:?}")));
            }
        })
    }
}

/// One proposed change, with the emails of the admins involved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proposal {
    pub id: Uuid,
    pub key: String,
    /// The proposed value (JSON `null` unsets an address).
    pub value: Value,
    pub status: ProposalStatus,
    pub proposed_by: Option<String>,
    pub proposed_at: DateTime<Utc>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// When an approved change takes effect, or when an applied one did.
    pub due_at: Option<DateTime<Utc>>,
    /// Seconds from now (the database's clock) to `due_at`, for an approved
    /// change; 0 once due (the next maintenance round applies it).
    pub due_in_seconds: Option<i64>,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub applied_at: Option<DateTime<Utc>>,
    /// The value an applied change replaced.
    pub old_value: Option<Value>,
}

impl Proposal {
    /// Where it stands, in words: "waiting for a second admin", "applies in
    /// 23h 59m", "applied", "cancelled by ...".
    pub fn describe(&self) -> String {
        let by = |who: &Option<String>| who.as_deref().unwrap_or("unknown").to_string();
        match self.status {
            ProposalStatus::Pending => format!(
                "proposed by {}, waiting for a second admin to approve",
                by(&self.proposed_by)
            ),
            ProposalStatus::Approved => format!(
                "approved by {}, applies in {}",
                by(&self.approved_by),
                countdown(self.due_in_seconds.unwrap_or(0))
            ),
            ProposalStatus::Applied => "applied".to_string(),
            ProposalStatus::Cancelled => format!("cancelled by {}", by(&self.cancelled_by)),
        }
    }
}

/// A time left, e.g. `1d 2h 3m`, `59m 59s`, `5s`; `due now` at zero.
pub fn countdown(seconds: i64) -> String {
    if seconds <= 0 {
        return "due now".into();
    }
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

struct Row {
    id: Uuid,
    key: String,
    value: Value,
    status: String,
    proposed_by: Option<String>,
    proposed_at: DateTime<Utc>,
    approved_by: Option<String>,
    approved_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    due_in_seconds: Option<i64>,
    cancelled_by: Option<String>,
    cancelled_at: Option<DateTime<Utc>>,
    applied_at: Option<DateTime<Utc>>,
    old_value: Option<Value>,
}

impl TryFrom<Row> for Proposal {
    type Error = SettingsError;

    fn try_from(r: Row) -> Result<Self, SettingsError> {
        Ok(Proposal {
            id: r.id,
            key: r.key,
            value: r.value,
            status: r.status.parse()?,
            proposed_by: r.proposed_by,
            proposed_at: r.proposed_at,
            approved_by: r.approved_by,
            approved_at: r.approved_at,
            due_at: r.due_at,
            due_in_seconds: r.due_in_seconds,
            cancelled_by: r.cancelled_by,
            cancelled_at: r.cancelled_at,
            applied_at: r.applied_at,
            old_value: r.old_value,
        })
    }
}

/// One proposal.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Proposal>, SettingsError> {
    Ok(select(pool, Some(id), false, 1).await?.pop())
}

/// Open proposals (pending or approved), newest first; with `all`, then the
/// most recent applied and cancelled ones (at most `limit` in all).
pub async fn list(pool: &PgPool, all: bool, limit: i64) -> Result<Vec<Proposal>, SettingsError> {
    select(pool, None, all, limit.clamp(1, 10_000)).await
}

/// The proposal `id`, or else the list. The due time is the migration's
/// rule (the longer of the delay at approval and the delay now); a wallet
/// activation proposed by an owner login that is no operator reads as
/// proposed by the database owner. The table is small (at most one open
/// proposal per key): one statement for both reads.
async fn select(
    pool: &PgPool,
    id: Option<Uuid>,
    all: bool,
    limit: i64,
) -> Result<Vec<Proposal>, SettingsError> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT p.id, p.key, p.value, p.status,
                  CASE WHEN p.proposed_by IS NULL THEN 'the database owner' ELSE pu.email END AS proposed_by,
                  p.proposed_at,
                  au.email AS "approved_by?", p.approved_at,
                  CASE WHEN p.status = 'applied' THEN p.applied_at
                       ELSE p.approved_at + make_interval(secs => greatest(p.delay_seconds, walletops_change_delay()))
                  END AS due_at,
                  CASE WHEN p.status = 'approved' THEN greatest(0, floor(extract(epoch FROM
                       p.approved_at + make_interval(secs => greatest(p.delay_seconds, walletops_change_delay()))
                       - now())))::bigint
                  END AS due_in_seconds,
                  cu.email AS "cancelled_by?", p.cancelled_at, p.applied_at, p.old_value
             FROM config_proposals p
             LEFT JOIN auth.users pu ON pu.id = p.proposed_by
             LEFT JOIN auth.users au ON au.id = p.approved_by
             LEFT JOIN auth.users cu ON cu.id = p.cancelled_by
            WHERE CASE WHEN $1::uuid IS NOT NULL THEN p.id = $1
                       ELSE $2 OR p.status IN ('pending', 'approved') END
            ORDER BY p.status IN ('pending', 'approved') DESC, p.proposed_at DESC
            LIMIT $3"#,
        id,
        all,
        limit
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Proposal::try_from).collect()
}

/// Proposes `value` for `key` (`walletops_proposal_create()`: proves the
/// actor, `token` being the API token the server was presented). Returns
/// the proposal's id.
pub async fn create(
    pool: &PgPool,
    key: &str,
    value: &Value,
    token: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM walletops_proposal_create($1, $2, $3)"#,
        key,
        value,
        token
    )
    .fetch_one(pool)
    .await
}

/// Approves a proposal (`walletops_proposal_approve()`: a different admin
/// than its proposer).
pub async fn approve(pool: &PgPool, id: Uuid, token: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM walletops_proposal_approve($1, $2)",
        id,
        token
    )
    .fetch_all(pool)
    .await?;
    Ok(())
}

/// Cancels a proposal that has not taken effect (`walletops_proposal_cancel()`).
pub async fn cancel(pool: &PgPool, id: Uuid, token: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM walletops_proposal_cancel($1, $2)",
        id,
        token
    )
    .fetch_all(pool)
    .await?;
    Ok(())
}

/// A change that took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub id: Uuid,
    pub key: String,
    pub value: Value,
}

/// Applies every approved change whose delay has passed
/// (`walletops_apply_due_proposals()`: each in one transaction with its
/// proposal's state and audit row; never twice).
pub async fn apply_due<'e>(db: impl PgExecutor<'e>) -> Result<Vec<Applied>, sqlx::Error> {
    sqlx::query_as!(
        Applied,
        r#"SELECT id AS "id!", key AS "key!", value AS "value!" FROM walletops_apply_due_proposals()"#
    )
    .fetch_all(db)
    .await
}

/// How long the newest applied proposal that set `key` to `address` waited
/// between its approval and taking effect (the database's clock), or `None`
/// when no proposal set it (a new deployment's first value, set by the
/// database owner). The signing side holds this against its policy file's
/// `change_delay_seconds`: a database configured with a shorter delay does
/// not hurry a payout address past it.
pub async fn wait_before_effect(
    pool: &PgPool,
    key: &str,
    address: &Address,
) -> Result<Option<Duration>, SettingsError> {
    let waited = sqlx::query_scalar!(
        r#"SELECT greatest(0, extract(epoch FROM applied_at - approved_at))::float8 AS "waited!"
             FROM config_proposals
            WHERE key = $1 AND status = 'applied' AND value = to_jsonb($2::text)
            ORDER BY applied_at DESC LIMIT 1"#,
        key,
        address.to_base58()
    )
    .fetch_optional(pool)
    .await?;
    Ok(waited.map(Duration::from_secs_f64))
}

/// The key of a gas or treasury wallet's activation proposal (migration
/// 0010): `wallet:ADDRESS`.
pub const WALLET_ACTIVATION_PREFIX: &str = "wallet:";

/// The open (pending or approved) activation proposal of the wallet at
/// `address`, if any.
pub async fn open_activation(
    pool: &PgPool,
    address: &Address,
) -> Result<Option<Uuid>, SettingsError> {
    let key = format!("{WALLET_ACTIVATION_PREFIX}{}", address.to_base58());
    Ok(sqlx::query_scalar!(
        "SELECT id FROM config_proposals WHERE key = $1 AND status IN ('pending', 'approved')",
        key
    )
    .fetch_optional(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_as_time_left() {
        assert_eq!(countdown(0), "due now");
        assert_eq!(countdown(-5), "due now");
        assert_eq!(countdown(5), "5s");
        assert_eq!(countdown(3599), "59m 59s");
        assert_eq!(countdown(86_399), "23h 59m");
        assert_eq!(countdown(86_400 + 3600 + 60), "1d 1h 1m");
    }

    #[test]
    fn statuses_parse_and_print() {
        for s in [
            ProposalStatus::Pending,
            ProposalStatus::Approved,
            ProposalStatus::Applied,
            ProposalStatus::Cancelled,
        ] {
            assert_eq!(s.as_str().parse::<ProposalStatus>().unwrap(), s);
        }
        assert!("done".parse::<ProposalStatus>().is_err());
    }
}
