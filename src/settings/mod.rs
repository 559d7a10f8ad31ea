//! The runtime settings: every SQL statement on `system_config` and on
//! `config_proposals` lives here. [`registry`] is the one table of keys (type,
//! default, bounds, description); the typed readers below ([`QueueSettings`],
//! [`JobSettings`], [`HealthSettings`], [`UiSettings`]) read from it, so a
//! key's default and bounds are found in one file. Who may change a key, and
//! the audit row, stay with `admin`; the writes go through the database's
//! SECURITY DEFINER functions (`walletops_config_set()` and the proposal
//! functions of migrations/0009_config_proposals.sql), which check the actor
//! again. Depends on `db` and `tron` only.

pub mod proposals;
pub mod registry;
mod typed;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::tron::Address;

pub use registry::{KEYS, Key, Kind};
pub use typed::{
    DepositSettings, GasMode, HealthSettings, HealthThresholds, JobSettings, QueueSettings,
    UiSettings,
};

/// What reading or writing a setting can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A stored value the registry does not accept (written by plain SQL).
    #[error("system_config {key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// A stored value that walletops did not write and cannot read.
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// One switch as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub key: String,
    pub value: Option<Value>,
    pub description: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Every stored switch, by key (rows the registry does not know included:
/// the original admin page may have its own).
pub async fn list(pool: &PgPool) -> Result<Vec<Entry>, SettingsError> {
    Ok(sqlx::query_as!(
        Entry,
        r#"SELECT key AS "key!", value, description, updated_at
             FROM system_config ORDER BY key"#
    )
    .fetch_all(pool)
    .await?)
}

/// One stored switch, if its row exists.
pub async fn get(pool: &PgPool, key: &str) -> Result<Option<Entry>, SettingsError> {
    Ok(sqlx::query_as!(
        Entry,
        r#"SELECT key AS "key!", value, description, updated_at
             FROM system_config WHERE key = $1"#,
        key
    )
    .fetch_optional(pool)
    .await?)
}

/// Stores an already validated value through `walletops_config_set()`,
/// which checks the actor's right again (`token`: the API token the server
/// was presented), announces the change and whose trigger writes the audit
/// row. Returns the value it replaced. In an explicit transaction, not
/// autocommit: a caller that gives up on the statement (the API's request
/// timeout drops it while it waits on a lock) leaves a transaction that
/// rolls back, not a change that commits later.
pub async fn set(
    pool: &PgPool,
    key: &str,
    value: &Value,
    token: Option<&str>,
) -> Result<Option<Value>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let old = sqlx::query_scalar!("SELECT walletops_config_set($1, $2, $3)", key, value, token)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(old)
}

/// Locks `key`'s row in the caller's transaction and returns its value
/// (`None` when it has no row, `Some(None)` when the value is SQL NULL),
/// for a first value written by the database owner.
pub async fn lock(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<Option<Value>>, SettingsError> {
    Ok(sqlx::query_scalar!(
        "SELECT value FROM system_config WHERE key = $1 FOR UPDATE",
        key
    )
    .fetch_optional(conn)
    .await?)
}

/// Writes `key` with the caller's (the database owner's) rights, in the
/// caller's transaction; the database's triggers audit it.
pub async fn write_as_owner(
    conn: &mut PgConnection,
    key: &str,
    value: &Value,
) -> Result<(), SettingsError> {
    sqlx::query!(
        "UPDATE system_config SET value = $2, updated_at = now() WHERE key = $1",
        key,
        value
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored values of some keys, read in one query, and read through
/// the registry: a missing row (or JSON null where the key takes no null)
/// reads as the registry's default.
struct Snapshot {
    rows: Vec<(String, Value)>,
}

impl Snapshot {
    async fn load<'e>(
        db: impl PgExecutor<'e>,
        keys: &[&'static str],
    ) -> Result<Self, SettingsError> {
        let names: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let rows = sqlx::query!(
            r#"SELECT key AS "key!", value FROM system_config WHERE key = ANY($1)"#,
            &names
        )
        .fetch_all(db)
        .await?;
        Ok(Self {
            rows: rows
                .into_iter()
                .map(|r| (r.key, r.value.unwrap_or(Value::Null)))
                .collect(),
        })
    }

    fn key(name: &'static str) -> &'static Key {
        registry::key(name).unwrap_or_else(|| panic!("{name} is not in the settings registry"))
    }

    /// The stored value, `None` when missing or null.
    fn raw(&self, name: &str) -> Option<&Value> {
        self.rows
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// The value, checked against the registry; the default when missing.
    /// A key that moves money has no silent default: missing, it is an
    /// error (an optional address reads as not set).
    fn checked(&self, name: &'static str) -> Result<Value, SettingsError> {
        let key = Self::key(name);
        match self.raw(name) {
            None if key.moves_money && key.check(&Value::Null).is_err() => {
                Err(SettingsError::Invalid {
                    key: name,
                    message: "is not set".into(),
                })
            }
            None if key.moves_money => Ok(Value::Null),
            None => Ok(key.default_value()),
            Some(v) => key
                .check(v)
                .map_err(|message| SettingsError::Invalid { key: name, message }),
        }
    }

    fn bool(&self, name: &'static str) -> Result<bool, SettingsError> {
        Ok(self.checked(name)?.as_bool().unwrap_or_default())
    }

    fn text(&self, name: &'static str) -> Result<String, SettingsError> {
        Ok(self.checked(name)?.as_str().unwrap_or_default().to_string())
    }

    fn int(&self, name: &'static str) -> Result<i64, SettingsError> {
        Ok(self.checked(name)?.as_i64().unwrap_or_default())
    }

    /// A stored address that does not parse is named as stored.
    fn address(&self, name: &'static str) -> Result<Option<Address>, SettingsError> {
        let parse = |s: &str| {
            s.parse().map_err(|e| SettingsError::Invalid {
                key: name,
                message: format!("{s:?} is not a valid TRON address: {e}"),
            })
        };
        if let Some(Value::String(s)) = self.raw(name) {
            parse(s)?;
        }
        Ok(match self.checked(name)? {
            Value::String(s) => Some(parse(&s)?),
            _ => None,
        })
    }
}

/// A lenient read, for what must show even when a value is malformed
/// (health, the console): the default, logged.
fn or_default<T>(read: Result<T, SettingsError>, default: T) -> T {
    read.unwrap_or_else(|e| {
        tracing::warn!("{e}; using the default");
        default
    })
}

/// Whether the workers are paused (`workers.paused`; false when malformed).
pub async fn paused<'e>(db: impl PgExecutor<'e>) -> Result<bool, SettingsError> {
    let s = Snapshot::load(db, &["workers.paused"]).await?;
    Ok(or_default(s.bool("workers.paused"), false))
}

/// `queue.max_retries`, for the jobs being enqueued.
pub async fn max_retries<'e>(db: impl PgExecutor<'e>) -> Result<i32, SettingsError> {
    let s = Snapshot::load(db, &["queue.max_retries"]).await?;
    Ok(s.int("queue.max_retries")? as i32)
}

/// `queue.lease_seconds`: how long a claim lasts without a heartbeat.
pub async fn lease<'e>(db: impl PgExecutor<'e>) -> Result<std::time::Duration, SettingsError> {
    let s = Snapshot::load(db, &["queue.lease_seconds"]).await?;
    Ok(std::time::Duration::from_secs(
        s.int("queue.lease_seconds")? as u64,
    ))
}
