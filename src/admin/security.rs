//! Security events (policy refusals recorded by the workers): the list, and
//! an admin's acknowledgement, which the database checks and audits
//! (migration 0008). Role checks here; the SQL in [`crate::audit::security`]. While one is not acknowledged, health is Down
//! ([`super::health`]).

use sqlx::PgPool;
use uuid::Uuid;

use super::{AdminError, Identity, Permission};
use crate::audit::security;

pub use crate::audit::security::SecurityEvent;

/// The newest events (at most `limit`), the unacknowledged only unless `all`.
pub async fn list(pool: &PgPool, all: bool, limit: i64) -> Result<Vec<SecurityEvent>, AdminError> {
    Ok(security::list(pool, all, limit).await?)
}

/// How many events wait for an acknowledgement, and the newest one's message.
pub async fn unacknowledged(pool: &PgPool) -> Result<(i64, Option<String>), AdminError> {
    Ok(security::unacknowledged(pool).await?)
}

/// Acknowledges one event, or every unacknowledged one (`None`), with an
/// optional note; returns the events acknowledged. Admin only: the
/// database's `walletops_security_ack()` proves the actor itself (the
/// login's operator, or the API token) and writes the audit rows.
pub async fn acknowledge(
    pool: &PgPool,
    identity: &Identity,
    event: Option<Uuid>,
    note: Option<&str>,
) -> Result<Vec<Uuid>, AdminError> {
    identity.authorize(Permission::AcknowledgeSecurity)?;
    let acked = security::acknowledge(pool, event, note, identity.token())
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    tracing::info!(identity = %identity, count = acked.len(), "security events acknowledged");
    Ok(acked)
}
