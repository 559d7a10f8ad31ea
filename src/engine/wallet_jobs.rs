//! The wallet jobs of `jobs` as the engine's handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Handler, HandlerFuture, Maintenance, MaintenanceFuture, Registry};
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

/// How long one reading of the energy pool may take.
const POOL_READ_LIMIT: Duration = Duration::from_secs(5);

/// Reads the energy pool and the energy price every
/// [`jobs::pool_watch::READ_EVERY`] in the leader, for health and the
/// stats (which read the recorded state, never the node).
struct PoolWatch {
    ctx: Arc<Context>,
    last: std::sync::Mutex<Option<Instant>>,
}

impl Maintenance for PoolWatch {
    fn run(&self) -> MaintenanceFuture<'_> {
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

/// Registers the three wallet jobs and their maintenance.
pub fn register_wallet_jobs(registry: &mut Registry, ctx: Arc<Context>) {
    for job_type in [JobType::Sync, JobType::GasTopup, JobType::Consolidation] {
        registry.register(job_type, WalletJobs(ctx.clone()));
    }
    registry.add_maintenance(WalletJobs(ctx.clone()));
    registry.add_maintenance(PoolWatch {
        ctx,
        last: std::sync::Mutex::new(None),
    });
}
