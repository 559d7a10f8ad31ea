//! Wake-ups from the database: the listener turns notifications into
//! wake-ups of the producer and the config watcher; the config watcher
//! reloads `system_config` on notification and every second (pause).

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use tracing::error;

use super::status::Status;
use crate::db::listen::{Channel, ListenEvent, Listener};
use crate::queue::{QueueConfig, QueueError};

/// What the listener wakes.
pub(super) struct Wakeups {
    /// New jobs may be due (a notification, or notifications were lost).
    pub jobs: Notify,
    /// `system_config` may have changed.
    pub config: Notify,
}

/// LISTENs for new jobs and config changes. After a (re)connect the
/// producer and the config watcher are woken anyway, since notifications
/// sent meanwhile are gone.
pub(super) async fn listener(pool: PgPool, status: Arc<Status>, wake: Arc<Wakeups>) {
    let mut listener = Listener::new(pool, &[Channel::Jobs, Channel::Config]);
    loop {
        match listener.next().await {
            ListenEvent::Connected => {
                wake.jobs.notify_one();
                wake.config.notify_one();
            }
            ListenEvent::Notified(Channel::Jobs) => wake.jobs.notify_one(),
            ListenEvent::Notified(_) => wake.config.notify_one(),
            // Reconnecting follows; its failure, if any, is the error.
            ListenEvent::Closed => {}
            ListenEvent::Lost(e) => {
                status.set_error("LISTEN connection failed", &QueueError::from(e));
            }
        }
    }
}

/// Reloads `system_config` on notification and at least every second.
pub(super) async fn config_watcher(
    pool: PgPool,
    status: Arc<Status>,
    wake: Arc<Wakeups>,
    tx: watch::Sender<QueueConfig>,
) {
    loop {
        tokio::select! {
            _ = wake.config.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let loaded = match pool.acquire().await {
            Ok(mut conn) => QueueConfig::load(&mut conn).await.map_err(QueueError::from),
            Err(e) => Err(e.into()),
        };
        match loaded {
            Ok(config) => {
                tx.send_if_modified(|old| {
                    let changed = *old != config;
                    *old = config;
                    changed
                });
            }
            Err(QueueError::Config { key, message }) => {
                error!("system_config {key} is invalid ({message}); keeping the previous value")
            }
            Err(e) => status.set_error("reading system_config failed", &e),
        }
    }
}
