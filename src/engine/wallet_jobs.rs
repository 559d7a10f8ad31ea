//! The wallet jobs of `jobs` as the engine's handlers.

use std::sync::Arc;
use std::time::Duration;

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

/// The transfers dead jobs left unresolved, resolved by the leader.
impl Maintenance for WalletJobs {
    fn run(&self) -> MaintenanceFuture<'_> {
        // Bounded: a slow node must not hold up the round's lease rescue.
        Box::pin(async {
            match tokio::time::timeout(DEAD_LETTERS_LIMIT, jobs::resolve_dead_letters(&self.0))
                .await
            {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot resolve the transfers of dead jobs")
                }
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
    registry.add_maintenance(WalletJobs(ctx.clone()));
    registry.add_service(Follower(ctx));
}
