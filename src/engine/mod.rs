//! The worker engine: a pool of async workers in one process, sharing one
//! PostgreSQL queue with any number of other processes.
//!
//! One process is one row of `workers` (its leases name it). Its parts, as
//! River and graphile-worker structure theirs, each a file with its own
//! state:
//! - the [producer](producer) claims due jobs in batches while the process
//!   has room (`concurrency` running plus a local buffer), and waits for a
//!   `walletops_jobs` notification, the next due time, or the poll interval
//!   when the queue is empty;
//! - the [executor](executor) runs each claimed job in its own task once one
//!   of `concurrency` slots is free (a job claimed ahead of a slot is marked
//!   started first: until then its holder's death costs it no retry); a
//!   panic or timeout fails only that attempt;
//! - the [completer](completer) records outcomes in batches, one statement
//!   (one durable commit) for all outcomes ready at that moment;
//! - the [heartbeat](heartbeat) updates the `workers` row every second and
//!   renews the lease of every held job; a job whose lease was lost is
//!   abandoned;
//! - the [listener](listener) turns notifications into wake-ups; the config
//!   watcher reloads `system_config` on notification and every second
//!   (pause);
//! - the [maintainer](maintainer) runs maintenance in whichever process
//!   holds the leader lease;
//! - the handlers' [services](Service) (the chain follower) run beside them
//!   until the stop, in the processes that take part in maintenance.
//!
//! They share only the [held jobs](held) and the process's [status](status).
//!
//! Shutdown (the `stop` future given to [`Engine::run`]): claim nothing more,
//! release buffered jobs, let running ones finish within the grace period,
//! release the rest, mark the `workers` row stopped.

mod batch;
mod completer;
mod executor;
mod handler;
mod heartbeat;
mod held;
mod listener;
mod maintainer;
mod producer;
mod status;
mod wallet_jobs;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};
use uuid::Uuid;

pub use handler::{
    Handler, HandlerFuture, Maintenance, MaintenanceFuture, Registry, Service, ServiceFuture,
};
pub use wallet_jobs::register_wallet_jobs;

use crate::queue::{QueueConfig, QueueError, workers};
use completer::Completer;
use executor::Executor;
use heartbeat::Heartbeat;
use held::Holdings;
use listener::Wakeups;
use maintainer::Maintainer;
use producer::Producer;
use status::Status;

/// How long, after the grace period, released outcomes may take to record.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a worker process runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Jobs running at once.
    pub concurrency: usize,
    /// Most jobs held at once: running plus claimed ahead of a free slot,
    /// so that slots never wait for a claim round trip. Their leases are
    /// renewed like running ones. Large values suit many short jobs; small
    /// ones share slow jobs fairly between processes.
    pub prefetch: usize,
    /// Most jobs one claim takes.
    pub claim_batch: u32,
    /// How long running jobs may take to finish after a stop.
    pub grace: Duration,
    /// Longest wait for new jobs without a notification.
    pub poll_interval: Duration,
    /// Take part in electing the maintenance leader.
    pub maintenance: bool,
}

impl EngineOptions {
    /// Defaults for `concurrency` jobs at once.
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            concurrency,
            prefetch: (concurrency * 2).max(8),
            claim_batch: 500,
            grace: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            maintenance: true,
        }
    }
}

/// What a finished run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineReport {
    pub worker_id: Uuid,
    /// Attempts recorded as completed.
    pub done: u64,
    /// Attempts recorded as failed (retried later or dead-lettered).
    pub failed: u64,
}

/// A worker process's engine.
pub struct Engine {
    pool: PgPool,
    registry: Registry,
    options: EngineOptions,
    worker_id: Uuid,
}

impl Engine {
    pub fn new(pool: PgPool, registry: Registry, options: EngineOptions) -> Self {
        Self {
            pool,
            registry,
            options,
            worker_id: Uuid::new_v4(),
        }
    }

    /// The id of this process's `workers` row (and of its leases).
    pub fn worker_id(&self) -> Uuid {
        self.worker_id
    }

    /// Runs until `stop` resolves, then shuts down as described in the
    /// module documentation. Database errors are logged and retried with
    /// backoff; nothing here gives up while the process is meant to run.
    pub async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> EngineReport {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_task = tokio::spawn(async move {
            stop.await;
            let _ = stop_tx.send(true);
        });
        let report = self.run_until(stop_rx).await;
        stop_task.abort();
        report
    }

    async fn run_until(self, mut stop: watch::Receiver<bool>) -> EngineReport {
        let Engine {
            pool,
            registry,
            options,
            worker_id,
        } = self;
        info!(%worker_id, concurrency = options.concurrency, types = ?registry.types(), "worker starting");

        let Some(config) = start_up(&pool, worker_id, &options, &mut stop).await else {
            return EngineReport {
                worker_id,
                done: 0,
                failed: 0,
            };
        };
        let (config_tx, config_rx) = watch::channel(config);
        let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
        let status = Arc::new(Status::new(worker_id));
        let held = Arc::new(Holdings::new(outcome_tx));
        let wake = Arc::new(Wakeups {
            jobs: Default::default(),
            config: Default::default(),
        });
        let maintenance = registry.clone();
        let services: Vec<JoinHandle<()>> = if options.maintenance {
            registry
                .services()
                .iter()
                .map(|s| {
                    let (s, stop) = (s.clone(), stop.clone());
                    tokio::spawn(async move { s.run(stop).await })
                })
                .collect()
        } else {
            Vec::new()
        };
        let (executor, start_rx) = Executor::new(
            registry,
            options.concurrency,
            held.clone(),
            status.clone(),
            stop.clone(),
        );

        let background: Vec<JoinHandle<()>> = vec![
            tokio::spawn(
                Completer {
                    pool: pool.clone(),
                    held: held.clone(),
                    status: status.clone(),
                    config: config_rx.clone(),
                }
                .run(outcome_rx),
            ),
            tokio::spawn(executor::mark_starts(
                async_commit_pool(&pool, executor::MAX_STARTS_IN_FLIGHT as u32),
                status.clone(),
                start_rx,
            )),
            tokio::spawn(
                Heartbeat {
                    pool: pool.clone(),
                    held: held.clone(),
                    status: status.clone(),
                    config: config_rx.clone(),
                }
                .run(),
            ),
            tokio::spawn(listener::listener(
                pool.clone(),
                status.clone(),
                wake.clone(),
            )),
            tokio::spawn(listener::config_watcher(
                pool.clone(),
                status.clone(),
                wake.clone(),
                config_tx,
            )),
        ];
        let maintainer = options.maintenance.then(|| {
            tokio::spawn(
                Maintainer::new(pool.clone(), status.clone(), config_rx.clone(), maintenance)
                    .run(stop.clone()),
            )
        });

        let grace = options.grace;
        Producer {
            claim_pool: async_commit_pool(&pool, 1),
            pool: pool.clone(),
            options,
            executor,
            held: held.clone(),
            status: status.clone(),
            wake,
            config: config_rx,
            stop,
        }
        .run()
        .await;
        shut_down(&held, grace).await;

        for task in background {
            task.abort();
        }
        if let Some(maintainer) = maintainer
            && let Err(e) = maintainer.await
        {
            warn!("the maintainer ended badly: {e}");
        }
        for service in services {
            if let Err(e) = service.await {
                warn!("a service ended badly: {e}");
            }
        }
        heartbeat::mark_stopped(&pool, &status).await;
        let report = EngineReport {
            worker_id,
            done: status.done(),
            failed: status.failed(),
        };
        info!(%worker_id, done = report.done, failed = report.failed, "worker stopped");
        report
    }
}

/// Doubling delays for retrying database work, 100 ms up to 5 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(100))
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
}

/// A pool on `pool`'s database whose commits do not wait for the WAL flush.
fn async_commit_pool(pool: &PgPool, connections: u32) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(
            (*pool.connect_options())
                .clone()
                .options([("synchronous_commit", "off")]),
        )
}

/// Sleeps for `d`; false if a stop came first.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Registers the `workers` row and reads the config, retrying until the
/// database answers. `None` if stopped first.
async fn start_up(
    pool: &PgPool,
    worker_id: Uuid,
    options: &EngineOptions,
    stop: &mut watch::Receiver<bool>,
) -> Option<QueueConfig> {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    let mut backoff = Backoff::new();
    loop {
        let attempt = async {
            workers::register(
                pool,
                &workers::NewWorker {
                    id: worker_id,
                    host: &host,
                    pid: std::process::id() as i32,
                    version: env!("CARGO_PKG_VERSION"),
                    concurrency: options.concurrency as i32,
                },
            )
            .await?;
            QueueConfig::load(&mut *pool.acquire().await?)
                .await
                .map_err(QueueError::from)
        }
        .await;
        match attempt {
            Ok(config) => return Some(config),
            // A retry after a lost answer finds the row already there.
            Err(QueueError::Sql(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                if let Ok(mut conn) = pool.acquire().await
                    && let Ok(config) = QueueConfig::load(&mut conn).await
                {
                    return Some(config);
                }
            }
            Err(e) => error!(%worker_id, "cannot register the worker: {}", crate::db::one_line(&e)),
        }
        if !sleep_or_stop(stop, backoff.next()).await {
            return None;
        }
    }
}

/// After the producer stops: wait for running jobs up to the grace period,
/// then release the rest (pending again, no retry used) and wait for the
/// outcomes to be recorded.
async fn shut_down(held: &Holdings, grace: Duration) {
    info!(
        in_flight = held.len(),
        grace_s = grace.as_secs_f64(),
        "stopping: finishing jobs in flight"
    );
    let deadline = tokio::time::Instant::now() + grace;
    while held.len() > 0 {
        tokio::select! {
            _ = held.room() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let released = held.release_unfinished();
    if released > 0 {
        warn!(
            jobs = released,
            "grace period over: releasing unfinished jobs"
        );
    }
    let deadline = tokio::time::Instant::now() + RELEASE_TIMEOUT;
    while held.len() > 0 {
        tokio::select! {
            _ = held.room() => {}
            _ = tokio::time::sleep_until(deadline) => {
                warn!(jobs = held.len(), "could not record every outcome; their leases will run out");
                break;
            }
        }
    }
}
