//! Start and pause the workers: the `workers.paused` switch, announced on
//! the control channel so that every worker sees it within a second.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::{AdminError, Identity, Permission};

pub const PAUSED_KEY: &str = "workers.paused";

/// What a start or pause did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ControlOutcome {
    pub paused: bool,
    /// False when the workers were already in the asked state.
    pub changed: bool,
}

/// Pauses (`paused = true`) or starts the workers (admin only). The
/// database announces it and its trigger audits it as `workers.pause` or
/// `workers.start`.
pub async fn set_paused(
    pool: &PgPool,
    identity: &Identity,
    paused: bool,
) -> Result<ControlOutcome, AdminError> {
    identity.authorize(Permission::ControlWorkers)?;
    let change = super::config::store(pool, identity, PAUSED_KEY, Value::Bool(paused)).await?;
    let was_paused = change.old.and_then(|v| v.as_bool()).unwrap_or(false);
    tracing::info!(identity = %identity, paused, "workers control");
    Ok(ControlOutcome {
        paused,
        changed: was_paused != paused,
    })
}

/// Whether the workers are paused now.
pub async fn is_paused(pool: &PgPool) -> Result<bool, AdminError> {
    Ok(crate::settings::paused(pool).await?)
}
