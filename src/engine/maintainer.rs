//! The maintainer: in whichever process holds the leader lease, rescues
//! expired leases, applies due configuration changes, deletes old jobs and
//! schedules periodic syncs. Other processes try to lead every few seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use tracing::{info, warn};

use super::Registry;
use super::status::Status;
use crate::queue::{QueueConfig, QueueError, maintenance};

/// How often maintenance runs in the leader, and a non-leader tries to lead.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);
const LEAD_RETRY_EVERY: Duration = Duration::from_secs(3);
const RETENTION_EVERY: Duration = Duration::from_secs(60);

pub(super) struct Maintainer {
    pub pool: PgPool,
    pub status: Arc<Status>,
    pub config: watch::Receiver<QueueConfig>,
    /// The handlers' own maintenance (the transfers of dead jobs).
    registry: Registry,
    leader: Option<maintenance::Leader>,
    last_try: Option<Instant>,
    last_retention: Option<Instant>,
    last_sync: Option<Instant>,
}

impl Maintainer {
    pub fn new(
        pool: PgPool,
        status: Arc<Status>,
        config: watch::Receiver<QueueConfig>,
        registry: Registry,
    ) -> Self {
        Self {
            pool,
            status,
            config,
            registry,
            leader: None,
            last_try: None,
            last_retention: None,
            last_sync: None,
        }
    }

    /// Runs until `stop`, then gives up leadership (so that another process
    /// may lead at once).
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(MAINTENANCE_EVERY) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            self.round().await;
        }
        if let Some(leader) = self.leader.take() {
            leader.resign().await;
        }
    }

    async fn round(&mut self) {
        if self.leader.is_none() {
            if self
                .last_try
                .is_some_and(|t| t.elapsed() < LEAD_RETRY_EVERY)
            {
                return;
            }
            self.last_try = Some(Instant::now());
            match maintenance::try_lead(&self.pool).await {
                Ok(Some(l)) => {
                    info!(worker_id = %self.status.worker_id(), "leading maintenance");
                    self.leader = Some(l);
                }
                Ok(None) => return,
                Err(e) => {
                    self.status.set_error("maintenance election failed", &e);
                    return;
                }
            }
        }
        if let Err(e) = self.work().await {
            // The leader's session may be gone; let the election start over.
            self.status.set_error("maintenance failed", &e);
            self.leader = None;
        }
    }

    async fn work(&mut self) -> Result<(), QueueError> {
        let config = self.config.borrow().clone();
        let Some(l) = self.leader.as_mut() else {
            return Ok(());
        };
        let rescued = l.tick().await?;
        if rescued.total() > 0 {
            warn!(
                requeued = rescued.requeued,
                released = rescued.released,
                failed = rescued.failed,
                "took back jobs whose lease ran out"
            );
        }
        let holder = l.holder();
        self.registry.maintain(holder).await;
        // A change that cannot be applied must not stop lease rescue: it is
        // logged and tried again next round.
        match l.apply_due_config_changes().await {
            Ok(0) => {}
            Ok(applied) => info!(applied, "applied approved configuration changes"),
            Err(e) => warn!(error = %e, "cannot apply approved configuration changes"),
        }
        if self
            .last_retention
            .is_none_or(|t| t.elapsed() >= RETENTION_EVERY)
        {
            self.last_retention = Some(Instant::now());
            let deleted = l.retention(&config).await?;
            if deleted > 0 {
                info!(deleted, "retention deleted old jobs");
            }
        }
        if let Some(interval) = config.sync_interval
            && self.last_sync.is_none_or(|t| t.elapsed() >= interval)
        {
            self.last_sync = Some(Instant::now());
            let queued = crate::jobs::schedule::schedule_syncs(l, interval).await?;
            if queued > 0 {
                info!(queued, "scheduled periodic wallet syncs");
            }
        }
        Ok(())
    }
}
