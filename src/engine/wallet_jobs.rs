//! The wallet jobs of `jobs` as the engine's handlers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use tokio::sync::watch;

use super::{
    Handler, HandlerFuture, Maintenance, MaintenanceFuture, Registry, Service, ServiceFuture,
};
use crate::jobs::{self, Context};
use crate::queue::{Job, JobType};

/// Runs sync, gas-topup and consolidation jobs with a shared context.
struct WalletJobs(Arc<Context>);

impl Handler for WalletJobs {
    fn run<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(jobs::run(&self.0, job))
    }

    /// An attempt waits for its transfers up to `wait` a few times (the
    /// leftovers, then each of its own): room for all of them.
    fn timeout(&self) -> Duration {
        self.0.wait * 5 + Duration::from_secs(60)
    }
}

/// How long one maintenance round may spend on the transfers of dead jobs.
const DEAD_LETTERS_LIMIT: Duration = Duration::from_secs(5);
/// How often the leader looks for delegations no sweep uses, and how long
/// one look may take.
const ORPHANS_EVERY: Duration = Duration::from_secs(10);
const ORPHANS_LIMIT: Duration = Duration::from_secs(10);

/// The leader's share of the wallet jobs' work.
struct WalletMaintenance {
    ctx: Arc<Context>,
    last_orphans: Mutex<Option<Instant>>,
}

/// The transfers dead jobs left unresolved, resolved by the leader; the
/// energy pool's delegations that no sweep uses, taken back.
impl Maintenance for WalletMaintenance {
    fn run(&self, leader: Uuid) -> MaintenanceFuture<'_> {
        // Bounded: a slow node must not hold up the round's lease rescue.
        Box::pin(async move {
            match tokio::time::timeout(DEAD_LETTERS_LIMIT, jobs::resolve_dead_letters(&self.ctx))
                .await
            {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot resolve the transfers of dead jobs")
                }
            }
            let due = {
                let mut last = self.last_orphans.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.is_none_or(|t| t.elapsed() >= ORPHANS_EVERY);
                if due {
                    *last = Some(Instant::now());
                }
                due
            };
            if due {
                let look = jobs::energy::reclaim_orphans(&self.ctx, leader);
                match tokio::time::timeout(ORPHANS_LIMIT, look).await {
                    Ok(Ok(_)) | Err(_) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot take back the energy pool's delegations")
                    }
                }
            }
        })
    }
}

/// How long one reading of the energy pool may take.
const POOL_READ_LIMIT: Duration = Duration::from_secs(5);

/// Reads the energy pool and the energy price every
/// [`jobs::pool_watch::READ_EVERY`] in the leader, for health and the
/// stats (which read the recorded state, never the node).
struct PoolWatch {
    ctx: Arc<Context>,
    last: Mutex<Option<Instant>>,
}

impl Maintenance for PoolWatch {
    fn run(&self, _leader: Uuid) -> MaintenanceFuture<'_> {
        Box::pin(async {
            {
                let mut last = self.last.lock().expect("pool watch lock");
                if last.is_some_and(|t| t.elapsed() < jobs::pool_watch::READ_EVERY) {
                    return;
                }
                *last = Some(Instant::now());
            }
            match tokio::time::timeout(
                POOL_READ_LIMIT,
                jobs::pool_watch::observe(&self.ctx.pool, &self.ctx.tron),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the energy pool"),
                Err(_) => tracing::warn!("reading the energy pool timed out"),
            }
        })
    }
}

/// The chain follower (`jobs::follower`): elected among the workers, on
/// while `deposits.enabled` is.
struct Follower(Arc<Context>);

impl Service for Follower {
    fn run(&self, stop: watch::Receiver<bool>) -> ServiceFuture<'_> {
        Box::pin(jobs::follower::run(&self.0, stop))
    }
}

/// Registers the three wallet jobs, their maintenance and the chain
/// follower.
pub fn register_wallet_jobs(registry: &mut Registry, ctx: Arc<Context>) {
    for job_type in [JobType::Sync, JobType::GasTopup, JobType::Consolidation] {
        registry.register(job_type, WalletJobs(ctx.clone()));
    }
    registry.add_maintenance(WalletMaintenance {
        ctx: ctx.clone(),
        last_orphans: Mutex::new(None),
    });
    registry.add_maintenance(PoolWatch {
        ctx: ctx.clone(),
        last: Mutex::new(None),
    });
    registry.add_service(Follower(ctx));
}
