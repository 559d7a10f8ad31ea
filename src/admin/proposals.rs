//! Changes that need two people and time. The keys that move money
//! (marked in src/settings/registry.rs, and `walletops_money_key()` in
//! migration 0009: the treasury and gas wallets,
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

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::{AdminError, CONTROL_CHANNEL, Identity, Permission, config};
pub use crate::settings::proposals::{
    Applied, Proposal, ProposalStatus, WALLET_ACTIVATION_PREFIX, countdown,
};
use crate::settings::{self, proposals as store};

/// Channel on which every step of a proposal is announced (`/api/events`
/// calls it `proposal`).
pub const PROPOSALS_CHANNEL: &str = crate::db::listen::Channel::Proposals.name();

/// One proposal.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Proposal, AdminError> {
    store::get(pool, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no proposal {id}")))
}

/// Open proposals (pending or approved), newest first; with `all`, then the
/// most recent applied and cancelled ones (at most `limit` in all).
pub async fn list(pool: &PgPool, all: bool, limit: i64) -> Result<Vec<Proposal>, AdminError> {
    Ok(store::list(pool, all, limit).await?)
}

/// Whether `key` moves money (and so changes only by proposal), as the
/// settings registry says.
pub fn is_money_key(key: &str) -> bool {
    settings::registry::key(key).is_some_and(|k| k.moves_money)
}

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
    let known = config::known(key).map_err(|e| e.refused(identity))?;
    if !known.moves_money {
        return Err(AdminError::Invalid(format!(
            "{key} does not move money: set it with `walletops config set {key} VALUE`"
        ))
        .refused(identity));
    }
    let value = config::check(known, &value).map_err(|e| e.refused(identity))?;
    // The function writes the proposal and its audit row in one transaction.
    let id = store::create(pool, key, &value, identity.token())
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
        config::validate(&proposal.key, &proposal.value).map_err(|e| {
            AdminError::Invalid(format!("refusing to approve proposal {id}: {e}")).refused(identity)
        })?;
    }
    store::approve(pool, id, identity.token())
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
    store::cancel(pool, id, identity.token())
        .await
        .map_err(|e| refusal(e, identity, "cancel proposed changes"))?;
    tracing::info!(identity = %identity, %id, "proposal cancelled");
    get(pool, id).await
}

/// Applies every approved change whose delay has passed (each in one
/// transaction with its proposal's state and audit row; never twice).
pub async fn apply_due(pool: &PgPool) -> Result<Vec<Applied>, AdminError> {
    let applied = store::apply_due(pool).await?;
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
    let Some(current) = settings::lock(&mut tx, key).await? else {
        return Err(AdminError::NotFound(format!(
            "no configuration key {key:?}"
        )));
    };
    if !is_money_key(key) {
        return Err(AdminError::Invalid(format!(
            "{key} does not move money: set it with `walletops config set`"
        )));
    }
    if current.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(AdminError::Conflict(format!(
            "{key} is already set: it changes only by proposal"
        )));
    }
    let value = config::validate(key, &value)?;
    settings::write_as_owner(&mut tx, key, &value).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CONTROL_CHANNEL)
        .bind(json!({"key": key, "value": value}).to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
