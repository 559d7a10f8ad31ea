//! The runtime switches in `system_config`: list, get, and a validated,
//! audited set that announces the change to the workers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::{AdminError, Identity, Permission};
use crate::tron::Address;

/// One switch as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConfigEntry {
    pub key: String,
    pub value: Option<Value>,
    pub description: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    /// An integer ≥ 0 (amounts, counts, seconds).
    Count,
    /// An integer ≥ 1.
    Positive,
    /// An integer from 0 to 100.
    Percent,
    /// A TRON address, or null for "not set".
    OptionalAddress,
    /// A TRON address.
    Address,
    /// Seconds from 0 to 30 days: a delay longer than that would hold back
    /// every later change, shortening it included.
    Delay,
}

/// The keys of the design and what each holds. A key not listed here must
/// keep the JSON type of its current value.
fn kind_of(key: &str) -> Option<Kind> {
    use Kind::*;
    Some(match key {
        "workers.paused" | "sync.auto_consolidate" => Bool,
        "consolidation.treasury_address" | "gas.wallet_address" => OptionalAddress,
        "tron.usdt_contract" => Address,
        "policy.change_delay_seconds" => Delay,
        "ui.refresh_seconds"
        | "queue.lease_seconds"
        | "queue.backoff_base_seconds"
        | "queue.backoff_cap_seconds"
        | "queue.retention_days"
        | "queue.failed_retention_days"
        | "tron.tx_expiry_seconds"
        | "health.heartbeat_stale_seconds" => Positive,
        "health.failure_rate_degraded_pct" | "health.failure_rate_down_pct" => Percent,
        k if k.starts_with("health.")
            || k.starts_with("queue.")
            || k.starts_with("gas.")
            || k.starts_with("consolidation.")
            || k.starts_with("sync.")
            || k.starts_with("tron.") =>
        {
            Count
        }
        _ => return None,
    })
}

/// The value to store (addresses normalised to base58), or why it is refused.
pub(crate) fn validate(key: &str, value: &Value, current: Option<&Value>) -> Result<Value, String> {
    let int = |min: i64, max: i64| match value.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(value.clone()),
        _ => Err(format!(
            "{key} must be an integer from {min} to {max}, not {value}"
        )),
    };
    let address = |v: &str| {
        v.parse::<Address>()
            .map(|a| Value::String(a.to_string()))
            .map_err(|e| format!("{key}: {v:?} is not a TRON address: {e}"))
    };
    match kind_of(key) {
        Some(Kind::Bool) if value.is_boolean() => Ok(value.clone()),
        Some(Kind::Bool) => Err(format!("{key} must be true or false, not {value}")),
        Some(Kind::Count) => int(0, i64::MAX),
        Some(Kind::Positive) => int(1, i64::MAX),
        Some(Kind::Percent) => int(0, 100),
        Some(Kind::Delay) => int(0, 30 * 86_400),
        Some(Kind::OptionalAddress) if value.is_null() => Ok(Value::Null),
        Some(Kind::OptionalAddress | Kind::Address) => match value.as_str() {
            Some(s) => address(s),
            None => Err(format!(
                "{key} must be a TRON address in quotes, e.g. \"T...\", not {value}"
            )),
        },
        None => {
            let same = match current {
                Some(Value::Bool(_)) => value.is_boolean(),
                Some(Value::Number(_)) => value.as_i64().is_some_and(|n| n >= 0),
                Some(Value::String(_)) => value.is_string(),
                _ => true,
            };
            if same {
                Ok(value.clone())
            } else {
                Err(format!(
                    "{key} must keep the type of its current value {}",
                    current.unwrap_or(&Value::Null)
                ))
            }
        }
    }
}

/// Every switch, by key.
pub async fn list(pool: &PgPool) -> Result<Vec<ConfigEntry>, AdminError> {
    Ok(
        sqlx::query_as(
            "SELECT key, value, description, updated_at FROM system_config ORDER BY key",
        )
        .fetch_all(pool)
        .await?,
    )
}

/// One switch.
pub async fn get(pool: &PgPool, key: &str) -> Result<ConfigEntry, AdminError> {
    sqlx::query_as("SELECT key, value, description, updated_at FROM system_config WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
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

/// Sets a switch (admin only), after validating the value for its key.
/// The database's `walletops_config_set()` checks the actor's right again,
/// stores the value, announces it on [`super::CONTROL_CHANNEL`] and its trigger
/// writes the audit row, all in one transaction.
pub async fn set(
    pool: &PgPool,
    identity: &Identity,
    key: &str,
    value: Value,
) -> Result<ConfigChange, AdminError> {
    identity.authorize(Permission::SetConfig)?;
    let current: Option<Option<Value>> =
        sqlx::query_scalar("SELECT value FROM system_config WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?;
    let Some(current) = current else {
        return Err(
            AdminError::NotFound(format!("no configuration key {key:?}")).refused(identity),
        );
    };
    if super::proposals::is_money_key(pool, key).await? {
        return Err(super::proposals::set_refusal(key).refused(identity));
    }
    let value = validate(key, &value, current.as_ref())
        .map_err(|e| AdminError::Invalid(e).refused(identity))?;
    let change = store(pool, identity, key, value).await?;
    tracing::info!(identity = %identity, key, "configuration changed");
    Ok(change)
}

/// Stores a validated switch through the database's function. In an
/// explicit transaction, not autocommit: a caller that gives up on the
/// statement (the API's request timeout drops it while it waits on a lock)
/// leaves a transaction that rolls back, not a change that commits later.
pub(crate) async fn store(
    pool: &PgPool,
    identity: &Identity,
    key: &str,
    value: Value,
) -> Result<ConfigChange, AdminError> {
    let mut tx = pool.begin().await?;
    let old: Option<Value> = sqlx::query_scalar("SELECT walletops_config_set($1, $2, $3)")
        .bind(key)
        .bind(&value)
        .bind(identity.token())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| AdminError::from(e).refused(identity))?;
    tx.commit().await?;
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
    fn values_are_checked_per_key() {
        let ok = |k: &str, v: Value| validate(k, &v, None);
        assert!(ok("workers.paused", json!(true)).is_ok());
        assert!(ok("workers.paused", json!("yes")).is_err());
        assert!(ok("gas.min_balance_sun", json!(5)).is_ok());
        assert!(ok("gas.min_balance_sun", json!(-5)).is_err());
        assert!(ok("gas.min_balance_sun", json!(1.5)).is_err());
        assert!(ok("queue.lease_seconds", json!(0)).is_err());
        assert!(ok("health.failure_rate_down_pct", json!(101)).is_err());
        assert!(ok("gas.wallet_address", Value::Null).is_ok());
        assert!(
            ok(
                "gas.wallet_address",
                json!("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
            )
            .is_ok()
        );
        assert!(
            ok(
                "gas.wallet_address",
                json!("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u")
            )
            .is_err()
        );
        assert!(ok("tron.usdt_contract", Value::Null).is_err());
        assert!(ok("policy.change_delay_seconds", json!(0)).is_ok());
        assert!(ok("policy.change_delay_seconds", json!(30 * 86_400)).is_ok());
        assert!(ok("policy.change_delay_seconds", json!(30 * 86_400 + 1)).is_err());
        assert!(validate("other.flag", &json!(1), Some(&json!(true))).is_err());
        assert!(validate("other.flag", &json!(false), Some(&json!(true))).is_ok());
    }
}
