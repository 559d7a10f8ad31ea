//! Who a CLI command acts as: the operator linked to the database login it
//! connects with. `--operator` / `WALLETOPS_OPERATOR` may only assert that
//! operator (a mismatch is refused), never pick another.

use sqlx::PgPool;

use crate::admin::{self, AdminError, Identity};
use crate::config::Settings;

/// The login's operator; refuses when the login is not a live operator or
/// the asserted operator is someone else.
pub async fn operator(settings: &Settings, pool: &PgPool) -> Result<Identity, AdminError> {
    let identity = admin::identity::resolve_login(pool).await?;
    admin::identity::check_claim(&identity, settings.operator.as_deref())?;
    Ok(identity)
}

/// Prints `value` as one line of JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
