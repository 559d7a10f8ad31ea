//! Start and pause the workers: the `workers.paused` switch, announced on
//! the control channel so that every worker sees it within a second.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::audit::{self, ActionType, Actor, Target};
use super::{AdminError, Identity, Permission};

pub const PAUSED_KEY: &str = "workers.paused";

/// What a start or pause did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ControlOutcome {
    pub paused: bool,
    /// False when the workers were already in the asked state.
    pub changed: bool,
}

/// Pauses (`paused = true`) or starts the workers (admin only).
pub async fn set_paused(
    pool: &PgPool,
    identity: &Identity,
    paused: bool,
) -> Result<ControlOutcome, AdminError> {
    identity.authorize(Permission::ControlWorkers)?;
    let mut tx = pool.begin().await?;
    let old: Option<Option<Value>> =
        sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1 FOR UPDATE")
            .bind(PAUSED_KEY)
            .fetch_optional(&mut *tx)
            .await?;
    let was_paused = old
        .clone()
        .flatten()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if old.is_none() {
        sqlx::query("INSERT INTO system_config (key, value, description) VALUES ($1, 'false', $2)")
            .bind(PAUSED_KEY)
            .bind("When true, workers claim no new jobs; jobs in flight finish.")
            .execute(&mut *tx)
            .await?;
    }
    super::config::write(&mut tx, PAUSED_KEY, old.flatten(), Value::Bool(paused)).await?;
    let action = if paused {
        ActionType::WorkersPause
    } else {
        ActionType::WorkersStart
    };
    audit::record(
        &mut tx,
        Actor::Identity(identity),
        action,
        &Target::new("system_config", PAUSED_KEY),
        json!({"was_paused": was_paused, "paused": paused}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(identity = %identity, paused, "workers control");
    Ok(ControlOutcome {
        paused,
        changed: was_paused != paused,
    })
}

/// Whether the workers are paused now.
pub async fn is_paused(pool: &PgPool) -> Result<bool, AdminError> {
    let v: Option<Option<Value>> =
        sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1")
            .bind(PAUSED_KEY)
            .fetch_optional(pool)
            .await?;
    Ok(v.flatten().and_then(|v| v.as_bool()).unwrap_or(false))
}
