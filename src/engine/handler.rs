//! Handlers: what runs a job of one type. The engine knows them only
//! through the [`Handler`] trait and the [`Registry`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::queue::{Job, JobType, Outcome};

/// The future a handler returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Runs jobs of one type. A handler that panics or runs past
/// [`Handler::timeout`] fails that attempt only (it is retried with backoff).
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt of `job` and says how it ended.
    fn run<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a>;

    /// How long one attempt may take before it is abandoned as failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }
}

/// The future of a [`Maintenance`] round.
pub type MaintenanceFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Work the handlers' domain needs done in the background, once per
/// maintenance round, in the process that leads maintenance only. It logs
/// its own failures.
pub trait Maintenance: Send + Sync + 'static {
    /// `leader` is the maintenance lease's holder (see
    /// `queue::maintenance::still_leading`).
    fn run(&self, leader: uuid::Uuid) -> MaintenanceFuture<'_>;
}

/// The future of a [`Service`].
pub type ServiceFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Long-running work of the handlers' domain beside the engine, in every
/// process that takes part in maintenance, until the engine stops: work
/// that elects its own runner (the chain follower) and must not wait on a
/// maintenance round. It logs its own failures.
pub trait Service: Send + Sync + 'static {
    fn run(&self, stop: watch::Receiver<bool>) -> ServiceFuture<'_>;
}

/// Handlers by job type. A type without one fails its attempts with
/// "no handler registered for ...".
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<JobType, Arc<dyn Handler>>,
    maintenance: Vec<Arc<dyn Maintenance>>,
    services: Vec<Arc<dyn Service>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `job_type`, replacing any earlier one.
    pub fn register(&mut self, job_type: JobType, handler: impl Handler) -> &mut Self {
        self.handlers.insert(job_type, Arc::new(handler));
        self
    }

    /// Registers one handler for every job type.
    pub fn register_all(&mut self, handler: Arc<dyn Handler>) -> &mut Self {
        for t in JobType::ALL {
            self.handlers.insert(*t, handler.clone());
        }
        self
    }

    /// Adds work to every maintenance round of the leader.
    pub fn add_maintenance(&mut self, m: impl Maintenance) -> &mut Self {
        self.maintenance.push(Arc::new(m));
        self
    }

    /// Adds work that runs beside the engine until it stops.
    pub fn add_service(&mut self, s: impl Service) -> &mut Self {
        self.services.push(Arc::new(s));
        self
    }

    /// The registered services.
    pub(super) fn services(&self) -> &[Arc<dyn Service>] {
        &self.services
    }

    /// Runs one round of every registered maintenance task.
    pub async fn maintain(&self, leader: uuid::Uuid) {
        for m in &self.maintenance {
            m.run(leader).await;
        }
    }

    pub fn get(&self, job_type: JobType) -> Option<&Arc<dyn Handler>> {
        self.handlers.get(&job_type)
    }

    /// The registered types, for the start-up log.
    pub fn types(&self) -> Vec<JobType> {
        let mut types: Vec<_> = self.handlers.keys().copied().collect();
        types.sort();
        types
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("types", &self.types())
            .finish()
    }
}
