//! Changes that need two people and time. The keys that move money
//! (`walletops_money_key()` in migration 0009: the treasury and gas wallets,
//! the USDT contract, the top-up amount, the fee limit and the delay itself)
//! are never set directly: one admin proposes a value, a different admin
//! approves it, and it takes effect once `policy.change_delay_seconds` (24 h
//! by default) have passed since the approval. Any admin may cancel it until
//! then.
//!
//! The rule lives in the database: these functions check first so that a
//! refusal is clear, then call the migration's definer functions, which
//! find the actor themselves (the session's login, or the API token passed
//! to them: [`Identity::token`]), check again, write the proposal and its
//! audit row in one transaction, and refuse any other write of a money key
//! or of a proposal. Applying is
//! `walletops_apply_due_proposals()`: the workers' maintenance leader calls
//! it every second, and so do [`approve`] and the admin reads
//! ([`apply_due`]), so a change takes effect whether or not workers run.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{AdminError, CONTROL_CHANNEL, Identity, Permission, config};

/// Channel on which every step of a proposal is announced (`/api/events`
/// calls it `proposal`).
pub const PROPOSALS_CHANNEL: &str = crate::db::listen::Channel::Proposals.name();

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
    type Err = AdminError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => ProposalStatus::Pending,
            "approved" => ProposalStatus::Approved,
            "applied" => ProposalStatus::Applied,
            "cancelled" => ProposalStatus::Cancelled,
            other => {
                return Err(AdminError::Corrupt(format!("proposal status {other:?}")));
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

#[derive(sqlx::FromRow)]
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
    type Error = AdminError;

    fn try_from(r: Row) -> Result<Self, AdminError> {
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

/// The proposals query; the due time is the migration's rule (the longer
/// of the delay at approval and the delay now).
const SELECT: &str = "
    SELECT p.id, p.key, p.value, p.status,
           -- A wallet activation proposed by an owner login that is no operator.
           CASE WHEN p.proposed_by IS NULL THEN 'the database owner' ELSE pu.email END AS proposed_by,
           p.proposed_at,
           au.email AS approved_by, p.approved_at,
           CASE WHEN p.status = 'applied' THEN p.applied_at
                ELSE p.approved_at + make_interval(secs => greatest(p.delay_seconds, walletops_change_delay()))
           END AS due_at,
           CASE WHEN p.status = 'approved' THEN greatest(0, floor(extract(epoch FROM
                p.approved_at + make_interval(secs => greatest(p.delay_seconds, walletops_change_delay()))
                - now())))::bigint
           END AS due_in_seconds,
           cu.email AS cancelled_by, p.cancelled_at, p.applied_at, p.old_value
      FROM config_proposals p
      LEFT JOIN auth.users pu ON pu.id = p.proposed_by
      LEFT JOIN auth.users au ON au.id = p.approved_by
      LEFT JOIN auth.users cu ON cu.id = p.cancelled_by";

/// One proposal.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Proposal, AdminError> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE p.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.ok_or_else(|| AdminError::NotFound(format!("no proposal {id}")))?
        .try_into()
}

/// Open proposals (pending or approved), newest first; with `all`, then the
/// most recent applied and cancelled ones (at most `limit` in all).
pub async fn list(pool: &PgPool, all: bool, limit: i64) -> Result<Vec<Proposal>, AdminError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE $1 OR p.status IN ('pending', 'approved')
          ORDER BY p.status IN ('pending', 'approved') DESC, p.proposed_at DESC LIMIT $2"
    )))
    .bind(all)
    .bind(limit.clamp(1, 10_000))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Proposal::try_from).collect()
}

/// Whether `key` moves money (and so changes only by proposal).
pub async fn is_money_key<'e>(db: impl PgExecutor<'e>, key: &str) -> Result<bool, AdminError> {
    Ok(sqlx::query_scalar("SELECT walletops_money_key($1)")
        .bind(key)
        .fetch_one(db)
        .await?)
}

/// The key of a gas or treasury wallet's activation proposal (migration
/// 0010): `wallet:ADDRESS`.
pub const WALLET_ACTIVATION_PREFIX: &str = "wallet:";

/// Whether a proposal's key is a wallet activation rather than a
/// configuration key.
pub fn is_wallet_activation(key: &str) -> bool {
    key.starts_with(WALLET_ACTIVATION_PREFIX)
}

/// What [`config::set`] answers for a money key.
pub fn set_refusal(key: &str) -> AdminError {
    AdminError::Invalid(format!(
        "{key} moves money: it cannot be set directly; propose it with \
         `walletops config propose {key} VALUE`, and a different admin approves it with \
         `walletops config approve ID` (it takes effect after policy.change_delay_seconds)"
    ))
}

/// The two-person rule needs a person: a token made without a user cannot
/// propose, approve or cancel (the database refuses it too).
fn require_person(identity: &Identity) -> Result<(), AdminError> {
    match identity.user_id {
        Some(_) => Ok(()),
        None => Err(AdminError::Invalid(format!(
            "{identity} names no person; changes that move money need an operator's own identity"
        ))
        .refused(identity)),
    }
}

/// The database's refusal in the words it gave: the shared mapping
/// ([`AdminError::from`]), with a denial named by its action and a proposal
/// in the wrong state (or a second open one for its key) as a conflict.
fn refusal(e: sqlx::Error, identity: &Identity, action: &'static str) -> AdminError {
    let error = match AdminError::from(e) {
        AdminError::Denied(reason) => {
            tracing::warn!(identity = %identity, reason, "refused by the database");
            AdminError::Forbidden {
                who: identity.to_string(),
                action,
            }
        }
        AdminError::Db(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("55000" | "23505")) =>
        {
            AdminError::Conflict(db.message().to_string())
        }
        e @ AdminError::Db(_) => return e,
        e => e,
    };
    error.refused(identity)
}

/// Proposes `value` for the money key `key` (admin only). Validated as
/// `config set` validates; a treasury or gas wallet may not be the USDT
/// contract or one of our deposit wallets (checked by the database).
pub async fn propose(
    pool: &PgPool,
    identity: &Identity,
    key: &str,
    value: Value,
) -> Result<Proposal, AdminError> {
    identity.authorize(Permission::SetConfig)?;
    require_person(identity)?;
    if is_wallet_activation(key) {
        return Err(AdminError::Invalid(format!(
            "{key} is a wallet's activation: it is proposed by importing the key \
             (`walletops wallet import --role gas` or `--role treasury`), not by hand"
        ))
        .refused(identity));
    }
    if !is_money_key(pool, key).await? {
        return Err(AdminError::Invalid(format!(
            "{key} does not move money: set it with `walletops config set {key} VALUE`"
        ))
        .refused(identity));
    }
    let current = config::get(pool, key)
        .await
        .map_err(|e| e.refused(identity))?;
    let value = config::validate(key, &value, current.value.as_ref())
        .map_err(|e| AdminError::Invalid(e).refused(identity))?;
    // The function writes the proposal and its audit row in one transaction.
    let id: Uuid = sqlx::query_scalar("SELECT id FROM walletops_proposal_create($1, $2, $3)")
        .bind(key)
        .bind(&value)
        .bind(identity.token())
        .fetch_one(pool)
        .await
        .map_err(|e| refusal(e, identity, "propose changes to keys that move money"))?;
    tracing::info!(identity = %identity, key, %id, "change proposed");
    get(pool, id).await
}

/// Approves another admin's proposal (admin only); it takes effect after
/// the delay, at once when the delay is zero.
pub async fn approve(pool: &PgPool, identity: &Identity, id: Uuid) -> Result<Proposal, AdminError> {
    identity.authorize(Permission::SetConfig)?;
    require_person(identity)?;
    let proposal = get(pool, id).await.map_err(|e| e.refused(identity))?;
    if proposal.status != ProposalStatus::Pending {
        return Err(AdminError::Conflict(format!(
            "proposal {id} is {}, not pending: nothing to approve",
            proposal.status
        ))
        .refused(identity));
    }
    // The value is checked again as it stands now: an approval is a second
    // look, not a rubber stamp of whatever reached the table. A wallet
    // activation has no configuration value; its row is checked when applied.
    if !is_wallet_activation(&proposal.key) {
        let current = config::get(pool, &proposal.key).await?;
        config::validate(&proposal.key, &proposal.value, current.value.as_ref()).map_err(|e| {
            AdminError::Invalid(format!("refusing to approve proposal {id}: {e}")).refused(identity)
        })?;
    }
    sqlx::query("SELECT id FROM walletops_proposal_approve($1, $2)")
        .bind(id)
        .bind(identity.token())
        .execute(pool)
        .await
        .map_err(|e| {
            refusal(
                e,
                identity,
                "approve this change: a different admin than its proposer must",
            )
        })?;
    tracing::info!(identity = %identity, key = proposal.key, %id, "change approved");
    // The approval stands either way; a failed apply is retried by the next
    // maintenance round or read.
    apply_due_quietly(pool).await;
    get(pool, id).await
}

/// Cancels a proposal that has not taken effect (any admin).
pub async fn cancel(pool: &PgPool, identity: &Identity, id: Uuid) -> Result<Proposal, AdminError> {
    identity.authorize(Permission::SetConfig)?;
    require_person(identity)?;
    sqlx::query("SELECT id FROM walletops_proposal_cancel($1, $2)")
        .bind(id)
        .bind(identity.token())
        .execute(pool)
        .await
        .map_err(|e| refusal(e, identity, "cancel proposed changes"))?;
    tracing::info!(identity = %identity, %id, "proposal cancelled");
    get(pool, id).await
}

/// A change that took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Applied {
    pub id: Uuid,
    pub key: String,
    pub value: Value,
}

/// Applies every approved change whose delay has passed (each in one
/// transaction with its proposal's state and audit row; never twice).
pub async fn apply_due(pool: &PgPool) -> Result<Vec<Applied>, AdminError> {
    let applied: Vec<Applied> =
        sqlx::query_as("SELECT id, key, value FROM walletops_apply_due_proposals()")
            .fetch_all(pool)
            .await?;
    for a in &applied {
        tracing::info!(key = a.key, id = %a.id, value = %a.value, "approved change applied");
    }
    Ok(applied)
}

/// [`apply_due`] for reads that should not fail because of it (a login
/// without the right to apply still reads): failures are logged.
pub async fn apply_due_quietly(pool: &PgPool) {
    if let Err(e) = apply_due(pool).await {
        tracing::warn!(error = %e, "could not apply due configuration changes");
    }
}

/// Sets a money key that has no value yet, with the database owner's rights
/// (the owner may write the table anyway): how a new deployment, such as the
/// demo, gets its first treasury and gas wallet. A key that holds a value
/// changes only by proposal. Recorded by the database's trigger as the
/// owner's walletops action, not as an external change.
pub async fn bootstrap(pool: &PgPool, key: &str, value: Value) -> Result<(), AdminError> {
    let mut tx = super::operators::owner_tx(pool, "setting a first value").await?;
    let current: Option<Option<Value>> =
        sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1 FOR UPDATE")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(current) = current else {
        return Err(AdminError::NotFound(format!(
            "no configuration key {key:?}"
        )));
    };
    if !is_money_key(&mut *tx, key).await? {
        return Err(AdminError::Invalid(format!(
            "{key} does not move money: set it with `walletops config set`"
        )));
    }
    if current.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(AdminError::Conflict(format!(
            "{key} is already set: it changes only by proposal"
        )));
    }
    let value = config::validate(key, &value, current.as_ref()).map_err(AdminError::Invalid)?;
    sqlx::query("UPDATE system_config SET value = $2, updated_at = now() WHERE key = $1")
        .bind(key)
        .bind(&value)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CONTROL_CHANNEL)
        .bind(json!({"key": key, "value": value}).to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
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
