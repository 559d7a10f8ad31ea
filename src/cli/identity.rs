//! The operator a CLI command acts as (`--operator` / `WALLETOPS_OPERATOR`).

use sqlx::PgPool;

use crate::admin::{self, AdminError, Identity};
use crate::config::Settings;

/// Resolves the configured operator; refuses when none is given or it holds
/// no live role.
pub async fn operator(settings: &Settings, pool: &PgPool) -> Result<Identity, AdminError> {
    let Some(email) = settings.operator.as_deref() else {
        tracing::warn!("refused: no operator identity given");
        return Err(AdminError::NoIdentity);
    };
    admin::identity::resolve_operator(pool, email).await
}

/// Prints `value` as one line of JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
