//! The runtime switches in `system_config`: list, get, and a validated,
//! audited set that announces the change to the workers. The keys, their
//! defaults and bounds are the settings registry's (src/settings/registry.rs);
//! this module adds who may change them and the refusals in words.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::{AdminError, Identity, Permission};
use crate::settings::{self, Key, registry};

/// One switch as stored.
pub use crate::settings::Entry as ConfigEntry;

/// The registry's key `key`, or a refusal that lists the keys there are.
pub(crate) fn known(key: &str) -> Result<&'static Key, AdminError> {
    registry::key(key).ok_or_else(|| {
        AdminError::NotFound(format!(
            "no configuration key {key:?}; the keys are: {}",
            registry::names()
        ))
    })
}

/// The value to store (addresses normalised to base58), or why it is
/// refused: an unknown key, or a value outside the key's type and bounds
/// (the refusal names what the key accepts).
pub(crate) fn validate(key: &str, value: &Value) -> Result<Value, AdminError> {
    check(known(key)?, value)
}

/// `value` checked against `key`, refused in words that name the key.
pub(crate) fn check(key: &Key, value: &Value) -> Result<Value, AdminError> {
    key.check(value)
        .map_err(|reason| AdminError::Invalid(format!("{}: {reason}", key.name)))
}

/// Every switch, by key.
pub async fn list(pool: &PgPool) -> Result<Vec<ConfigEntry>, AdminError> {
    Ok(settings::list(pool).await?)
}

/// One switch.
pub async fn get(pool: &PgPool, key: &str) -> Result<ConfigEntry, AdminError> {
    settings::get(pool, key)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no configuration key {key:?}")))
}

/// What a set did.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigChange {
    pub key: String,
    pub old: Option<Value>,
    pub new: Value,
}

/// Sets a switch (admin only), after validating the value against the
/// registry. The database's `walletops_config_set()` checks the actor's
/// right again, stores the value, announces it on [`super::CONTROL_CHANNEL`]
/// and its trigger writes the audit row, all in one transaction (it refuses
/// a key whose row is missing). A refused value changes nothing.
pub async fn set(
    pool: &PgPool,
    identity: &Identity,
    key: &str,
    value: Value,
) -> Result<ConfigChange, AdminError> {
    identity.authorize(Permission::SetConfig)?;
    let known = known(key).map_err(|e| e.refused(identity))?;
    if known.moves_money {
        return Err(super::proposals::set_refusal(key).refused(identity));
    }
    let value = check(known, &value).map_err(|e| e.refused(identity))?;
    let change = store(pool, identity, key, value).await?;
    tracing::info!(identity = %identity, key, "configuration changed");
    Ok(change)
}

/// Stores a validated switch through the database's function (see
/// [`settings::set`]).
pub(crate) async fn store(
    pool: &PgPool,
    identity: &Identity,
    key: &str,
    value: Value,
) -> Result<ConfigChange, AdminError> {
    let old = settings::set(pool, key, &value, identity.token())
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    Ok(ConfigChange {
        key: key.to_string(),
        old,
        new: value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_refused_with_the_known_ones() {
        let e = validate("no.such.key", &json!(1)).unwrap_err();
        assert!(
            matches!(&e, AdminError::NotFound(m) if m.contains("queue.lease_seconds")),
            "{e}"
        );
        assert!(matches!(
            validate("queue.lease_seconds", &json!(i64::MAX)),
            Err(AdminError::Invalid(m)) if m.contains("from 1 to 3600")
        ));
    }
}
