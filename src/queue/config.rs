//! The queue's runtime switches, read from `system_config`.

use std::time::Duration;

use sqlx::PgConnection;

use super::QueueError;

/// The `system_config` values the queue and the engine act on. Missing keys
/// take the migration's defaults; a present but malformed one is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// `workers.paused`
    pub paused: bool,
    /// `queue.lease_seconds`
    pub lease: Duration,
    /// `queue.backoff_base_seconds`
    pub backoff_base: Duration,
    /// `queue.backoff_cap_seconds`
    pub backoff_cap: Duration,
    /// `queue.retention_days` (completed and cancelled jobs)
    pub retention: Duration,
    /// `queue.failed_retention_days`
    pub failed_retention: Duration,
    /// `sync.interval_seconds`; `None` when 0 (no periodic sync).
    pub sync_interval: Option<Duration>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            paused: false,
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(600),
            retention: Duration::from_secs(7 * 86_400),
            failed_retention: Duration::from_secs(90 * 86_400),
            sync_interval: None,
        }
    }
}

impl QueueConfig {
    /// Reads every key in one query.
    pub async fn load(conn: &mut PgConnection) -> Result<Self, QueueError> {
        let rows: Vec<(String, Option<serde_json::Value>)> = sqlx::query_as(
            "SELECT key, value FROM system_config
              WHERE key IN ('workers.paused', 'queue.lease_seconds',
                            'queue.backoff_base_seconds', 'queue.backoff_cap_seconds',
                            'queue.retention_days', 'queue.failed_retention_days',
                            'sync.interval_seconds')",
        )
        .fetch_all(conn)
        .await?;
        let mut config = Self::default();
        for (key, value) in rows {
            let Some(value) = value.filter(|v| !v.is_null()) else {
                continue;
            };
            match key.as_str() {
                "workers.paused" => {
                    config.paused = value.as_bool().ok_or_else(|| QueueError::Config {
                        key: "workers.paused",
                        message: format!("expected true or false, found {value}"),
                    })?
                }
                "queue.lease_seconds" => {
                    config.lease = seconds("queue.lease_seconds", &value, 1.0)?
                }
                "queue.backoff_base_seconds" => {
                    config.backoff_base = seconds("queue.backoff_base_seconds", &value, 0.0)?
                }
                "queue.backoff_cap_seconds" => {
                    config.backoff_cap = seconds("queue.backoff_cap_seconds", &value, 0.0)?
                }
                "queue.retention_days" => {
                    config.retention = seconds("queue.retention_days", &value, 0.0)? * 86_400
                }
                "queue.failed_retention_days" => {
                    config.failed_retention =
                        seconds("queue.failed_retention_days", &value, 0.0)? * 86_400
                }
                "sync.interval_seconds" => {
                    let interval = seconds("sync.interval_seconds", &value, 0.0)?;
                    config.sync_interval = (!interval.is_zero()).then_some(interval);
                }
                _ => {}
            }
        }
        Ok(config)
    }
}

/// A non-negative number of seconds (or days), at least `min`.
fn seconds(key: &'static str, value: &serde_json::Value, min: f64) -> Result<Duration, QueueError> {
    match value.as_f64() {
        Some(n) if n.is_finite() && n >= min && n < 1e9 => Ok(Duration::from_secs_f64(n)),
        _ => Err(QueueError::Config {
            key,
            message: format!("expected a number of at least {min}, found {value}"),
        }),
    }
}
