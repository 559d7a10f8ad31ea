//! The engine's tasks (see the module documentation in `engine`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::Registry;
use crate::queue::{
    self, CONFIG_CHANNEL, Finish, JOBS_CHANNEL, Job, JobStatus, Outcome, QueueConfig, QueueError,
    maintenance,
};

/// Claims running at once in one process.
const MAX_CLAIMS_IN_FLIGHT: usize = 2;
/// Outcome statements running at once in one process.
const MAX_FINISHES_IN_FLIGHT: usize = 2;
/// Most outcomes recorded by one statement.
const MAX_FINISH_BATCH: usize = 2000;
/// How often the `workers` row is updated (and leases checked for renewal).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How often maintenance runs in the leader, and a non-leader tries to lead.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);
const LEAD_RETRY_EVERY: Duration = Duration::from_secs(3);
const RETENTION_EVERY: Duration = Duration::from_secs(60);
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

/// A worker's state as shown in `workers.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Active,
    Idle,
    Paused,
    Error,
    Stopped,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Idle => "idle",
            WorkerState::Paused => "paused",
            WorkerState::Error => "error",
            WorkerState::Stopped => "stopped",
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
        let (config_tx, mut config_rx) = watch::channel(config);
        let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
        let claim_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(
                (*pool.connect_options())
                    .clone()
                    .options([("synchronous_commit", "off")]),
            );
        let shared = Arc::new(Shared {
            pool: pool.clone(),
            claim_pool,
            worker_id,
            registry,
            held: Mutex::new(HashMap::new()),
            room: Notify::new(),
            wake: Notify::new(),
            config_changed: Notify::new(),
            permits: Semaphore::new(options.concurrency),
            outcomes: outcome_tx,
            stop: stop.clone(),
            config: config_rx.clone(),
            running: AtomicUsize::new(0),
            current: Mutex::new(None),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            error: Mutex::new(None),
        });

        let mut background: Vec<JoinHandle<()>> = vec![
            tokio::spawn(completer(shared.clone(), outcome_rx)),
            tokio::spawn(heartbeat(shared.clone())),
            tokio::spawn(listener(shared.clone())),
            tokio::spawn(config_watcher(shared.clone(), config_tx)),
        ];
        let leader = Arc::new(tokio::sync::Mutex::new(None));
        if options.maintenance {
            background.push(tokio::spawn(maintainer(shared.clone(), leader.clone())));
        }

        dispatch(&shared, &options, &mut stop, &mut config_rx).await;
        shut_down(&shared, &options).await;

        for task in background {
            task.abort();
        }
        if let Some(leader) = leader.lock().await.take() {
            leader.resign().await;
        }
        mark_stopped(&shared).await;
        let report = EngineReport {
            worker_id,
            done: shared.done.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
        };
        info!(%worker_id, done = report.done, failed = report.failed, "worker stopped");
        report
    }
}

/// A job this process holds a lease on.
struct Held {
    attempt: i32,
    /// The task running (or waiting to run) it.
    task: Option<AbortHandle>,
    /// Its outcome is on the way to the database: the lease is not renewed
    /// and not counted as lost any more.
    finishing: bool,
}

struct Shared {
    pool: PgPool,
    /// One connection for claims, with asynchronous commit: a claim lost in
    /// a server crash is just a pending job again, and the next durable
    /// commit (the job's outcome) flushes it anyway. Saves a WAL flush wait
    /// per claim.
    claim_pool: PgPool,
    worker_id: Uuid,
    registry: Registry,
    held: Mutex<HashMap<Uuid, Held>>,
    /// A held job went away: the dispatcher may claim more.
    room: Notify,
    /// New jobs may be due (a notification, or notifications were lost).
    wake: Notify,
    /// `system_config` may have changed.
    config_changed: Notify,
    permits: Semaphore,
    outcomes: mpsc::UnboundedSender<Finish>,
    stop: watch::Receiver<bool>,
    config: watch::Receiver<QueueConfig>,
    running: AtomicUsize,
    current: Mutex<Option<Uuid>>,
    done: AtomicU64,
    failed: AtomicU64,
    paused: AtomicBool,
    /// The last database error, while it is the latest thing that happened.
    error: Mutex<Option<String>>,
}

impl Shared {
    fn held_len(&self) -> usize {
        self.held.lock().expect("held lock").len()
    }

    fn set_error(&self, what: &str, e: &QueueError) {
        let message = format!("{what}: {}", crate::db::one_line(e));
        warn!(worker_id = %self.worker_id, "{message}");
        *self.error.lock().expect("error lock") = Some(message);
    }

    fn clear_error(&self) {
        self.error.lock().expect("error lock").take();
    }

    fn state(&self) -> WorkerState {
        if self.error.lock().expect("error lock").is_some() {
            WorkerState::Error
        } else if self.running.load(Ordering::Relaxed) > 0 {
            WorkerState::Active
        } else if self.paused.load(Ordering::Relaxed) {
            WorkerState::Paused
        } else {
            WorkerState::Idle
        }
    }

    /// Forgets a held job; true if it was still held.
    fn release_held(&self, id: Uuid, attempt: i32) -> bool {
        let mut held = self.held.lock().expect("held lock");
        let removed = match held.get(&id) {
            Some(h) if h.attempt == attempt => held.remove(&id).is_some(),
            _ => false,
        };
        drop(held);
        if removed {
            self.room.notify_one();
        }
        removed
    }

    /// Hands an attempt's outcome to the completer, unless the job is no
    /// longer held by this attempt or already has its outcome on the way
    /// (so one statement never carries two outcomes for one job).
    fn send_outcome(&self, job_id: Uuid, attempt: i32, outcome: Outcome) {
        {
            let mut held = self.held.lock().expect("held lock");
            match held.get_mut(&job_id) {
                Some(h) if h.attempt == attempt && !h.finishing => h.finishing = true,
                _ => return,
            }
        }
        self.send_finishing(job_id, attempt, outcome);
    }

    /// Sends an outcome already marked `finishing`.
    fn send_finishing(&self, job_id: Uuid, attempt: i32, outcome: Outcome) {
        // The completer outlives every job task; a closed channel means the
        // engine is gone and the lease will run out instead.
        let _ = self.outcomes.send(Finish {
            job_id,
            attempt,
            outcome,
        });
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
            sqlx::query(
                "INSERT INTO workers (id, host, pid, version, state, concurrency)
                 VALUES ($1, $2, $3, $4, 'idle', $5)",
            )
            .bind(worker_id)
            .bind(&host)
            .bind(std::process::id() as i32)
            .bind(env!("CARGO_PKG_VERSION"))
            .bind(options.concurrency as i32)
            .execute(pool)
            .await
            .map_err(QueueError::from)?;
            QueueConfig::load(&mut *pool.acquire().await?).await
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

/// What one claim brought back: how many jobs it took (already held and
/// started), how many were asked for, and when to look again if the queue
/// had fewer (the next due time or the poll interval; the fallback for lost
/// notifications).
struct Claimed {
    want: usize,
    result: Result<usize, QueueError>,
    retry_in: Option<Duration>,
}

/// Claims while there is room and the queue is not paused. Up to
/// [`MAX_CLAIMS_IN_FLIGHT`] claims run at once, so that the next batch is
/// on its way while the last one is being registered.
async fn dispatch(
    shared: &Arc<Shared>,
    options: &EngineOptions,
    stop: &mut watch::Receiver<bool>,
    config_rx: &mut watch::Receiver<QueueConfig>,
) {
    let mut claims: JoinSet<Claimed> = JoinSet::new();
    // Slots promised to claims in flight.
    let mut reserved = 0usize;
    // After a short or failed claim: no new claim before this time, unless
    // a notification comes.
    let mut quiet_until: Option<tokio::time::Instant> = None;
    let mut backoff = Backoff::new();
    loop {
        let stopping = *stop.borrow();
        if stopping && claims.is_empty() {
            return;
        }
        let config = config_rx.borrow_and_update().clone();
        if config.paused != shared.paused.swap(config.paused, Ordering::Relaxed) {
            if config.paused {
                info!(worker_id = %shared.worker_id, "paused: claiming nothing");
            } else {
                info!(worker_id = %shared.worker_id, "resumed");
            }
        }
        if quiet_until.is_some_and(|t| t <= tokio::time::Instant::now()) {
            quiet_until = None;
        }
        while !stopping
            && !config.paused
            && quiet_until.is_none()
            && claims.len() < MAX_CLAIMS_IN_FLIGHT
        {
            let room = options
                .prefetch
                .saturating_sub(shared.held_len() + reserved);
            // Small leftovers wait for a fuller batch unless nothing else is
            // on its way.
            if room == 0 || (room < options.concurrency && !claims.is_empty()) {
                break;
            }
            let want = room.min(options.claim_batch as usize);
            reserved += want;
            let shared = shared.clone();
            let lease = config.lease;
            let poll = options.poll_interval;
            claims.spawn(async move {
                // Claimed jobs start here, before the next-due lookup below:
                // a job picked up from idle must not wait for it.
                let result = queue::claim(&shared.claim_pool, shared.worker_id, want as u32, lease)
                    .await
                    .map(|jobs| {
                        let claimed = jobs.len();
                        for job in jobs {
                            hold(&shared, job);
                        }
                        claimed
                    });
                let retry_in = match &result {
                    Ok(claimed) if *claimed < want => {
                        Some(match queue::next_due(&shared.pool).await {
                            Ok(Some(due)) => (due - Utc::now())
                                .to_std()
                                .unwrap_or(Duration::ZERO)
                                .min(poll),
                            _ => poll,
                        })
                    }
                    _ => None,
                };
                Claimed {
                    want,
                    result,
                    retry_in,
                }
            });
        }
        tokio::select! {
            Some(done) = claims.join_next(), if !claims.is_empty() => {
                let Ok(claimed) = done else { continue };
                reserved -= claimed.want;
                match claimed.result {
                    Ok(count) => {
                        backoff = Backoff::new();
                        shared.clear_error();
                        if count > 0 {
                            debug!(claimed = count, "claimed jobs");
                        }
                        if let Some(wait) = claimed.retry_in.filter(|w| !w.is_zero()) {
                            quiet_until = Some(tokio::time::Instant::now() + wait);
                        }
                    }
                    Err(e) => {
                        shared.set_error("claim failed", &e);
                        quiet_until = Some(tokio::time::Instant::now() + backoff.next());
                    }
                }
            }
            _ = shared.room.notified() => {}
            _ = shared.wake.notified() => quiet_until = None,
            _ = sleep_until_opt(quiet_until) => quiet_until = None,
            _ = config_rx.changed() => {}
            _ = stop.wait_for(|s| *s), if !stopping => {}
        }
    }
}

/// Sleeps until `t`; never resolves for `None`.
async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Registers a claimed job as held and starts its task. A job claimed while
/// the engine stops is released by its task at once.
fn hold(shared: &Arc<Shared>, job: Job) {
    let id = job.id;
    let attempt = job.attempt;
    shared.held.lock().expect("held lock").insert(
        id,
        Held {
            attempt,
            task: None,
            finishing: false,
        },
    );
    let task = tokio::spawn(run_job(shared.clone(), Arc::new(job)));
    if let Some(h) = shared.held.lock().expect("held lock").get_mut(&id)
        && h.attempt == attempt
    {
        h.task = Some(task.abort_handle());
    }
}

/// Decrements the running count when a job's run ends, however it ends.
struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.current.lock().expect("current lock").take();
        }
    }
}

/// Aborts a spawned task when dropped (an aborted job task takes its
/// handler down with it).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits for a slot, runs the job's handler, hands over the outcome. A job
/// still waiting for a slot when the engine stops is released unrun.
async fn run_job(shared: Arc<Shared>, job: Arc<Job>) {
    let mut stop = shared.stop.clone();
    let permit = tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => None,
        permit = shared.permits.acquire() => permit.ok(),
    };
    let Some(_permit) = permit else {
        shared.send_outcome(job.id, job.attempt, Outcome::Snooze(Utc::now()));
        return;
    };
    shared.running.fetch_add(1, Ordering::Relaxed);
    *shared.current.lock().expect("current lock") = Some(job.id);
    let running = Running(&shared);
    let outcome = execute(&shared.registry, job.clone()).await;
    drop(running);
    if let Outcome::Retry(e) | Outcome::Fail(e) = &outcome {
        warn!(job_id = %job.id, attempt = job.attempt, job_type = ?job.job_type, "job attempt failed: {e}");
    }
    shared.send_outcome(job.id, job.attempt, outcome);
}

/// Runs the handler in a task of its own, so that a panic or a timeout ends
/// only this attempt.
async fn execute(registry: &Registry, job: Arc<Job>) -> Outcome {
    let Some(job_type) = job.job_type else {
        return Outcome::Retry("job has no job_type".into());
    };
    let Some(handler) = registry.get(job_type).cloned() else {
        return Outcome::Retry(format!("no handler registered for job type {job_type}"));
    };
    let timeout = handler.timeout();
    let mut task = AbortOnDrop(tokio::spawn(async move { handler.run(&job).await }));
    match tokio::time::timeout(timeout, &mut task.0).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Outcome::Retry(format!("handler panicked: {message}"))
        }
        Ok(Err(_)) => Outcome::Retry("handler was cancelled".into()),
        Err(_) => Outcome::Retry(format!(
            "handler timed out after {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// Records outcomes in batches: everything ready when a statement can start
/// goes into it, with up to [`MAX_FINISHES_IN_FLIGHT`] statements at once
/// (each a durable commit; a job's outcome is in one batch only). An
/// outcome counts only once its statement has committed.
async fn completer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Finish>) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        while in_flight.len() >= MAX_FINISHES_IN_FLIGHT {
            in_flight.join_next().await;
        }
        let first = tokio::select! {
            f = rx.recv() => match f {
                Some(f) => f,
                None => break,
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_FINISH_BATCH {
            match rx.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        in_flight.spawn(record(shared.clone(), batch));
    }
    while in_flight.join_next().await.is_some() {}
}

/// Writes one batch of outcomes, retrying until the database takes it.
async fn record(shared: Arc<Shared>, batch: Vec<Finish>) {
    let mut backoff = Backoff::new();
    let applied = loop {
        let (base, cap) = {
            let c = shared.config.borrow();
            (c.backoff_base, c.backoff_cap)
        };
        match queue::finish(&shared.pool, shared.worker_id, &batch, base, cap).await {
            Ok(applied) => break applied,
            Err(e) => {
                shared.set_error("recording outcomes failed", &e);
                tokio::time::sleep(backoff.next()).await;
            }
        }
    };
    let applied: HashSet<Uuid> = applied
        .into_iter()
        .map(|(id, _status): (Uuid, JobStatus)| id)
        .collect();
    for f in batch {
        if applied.contains(&f.job_id) {
            match f.outcome {
                Outcome::Complete => {
                    shared.done.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Retry(_) | Outcome::Fail(_) => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Snooze(_) => {}
            }
        } else {
            warn!(job_id = %f.job_id, attempt = f.attempt, "outcome discarded: the lease was lost before it was recorded");
        }
        shared.release_held(f.job_id, f.attempt);
    }
}

/// Updates the `workers` row every second and renews held leases every
/// third of a lease; abandons jobs whose lease was lost.
async fn heartbeat(shared: Arc<Shared>) {
    let mut last_renew = Instant::now();
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        let lease = shared.config.borrow().lease;
        if last_renew.elapsed() >= lease / 3 {
            let held: Vec<(Uuid, i32)> = shared
                .held
                .lock()
                .expect("held lock")
                .iter()
                .filter(|(_, h)| !h.finishing)
                .map(|(id, h)| (*id, h.attempt))
                .collect();
            match queue::heartbeat(&shared.pool, shared.worker_id, &held, lease).await {
                Ok(renewed) => {
                    last_renew = Instant::now();
                    let renewed: HashSet<Uuid> = renewed.into_iter().collect();
                    for (id, attempt) in held.iter().filter(|(id, _)| !renewed.contains(id)) {
                        abandon(&shared, *id, *attempt);
                    }
                }
                Err(e) => shared.set_error("renewing leases failed", &e),
            }
        }
        update_worker_row(&shared).await;
    }
}

/// A held job's lease is gone (rescued, or taken by another worker after
/// it ran out): stop its task, forget it.
fn abandon(shared: &Shared, id: Uuid, attempt: i32) {
    let task = {
        let mut held = shared.held.lock().expect("held lock");
        match held.get(&id) {
            Some(h) if h.attempt == attempt && !h.finishing => {
                held.remove(&id).and_then(|h| h.task)
            }
            _ => return,
        }
    };
    warn!(job_id = %id, attempt, "lease lost: abandoning the job");
    if let Some(task) = task {
        task.abort();
    }
    shared.room.notify_one();
}

async fn update_worker_row(shared: &Shared) {
    let current = *shared.current.lock().expect("current lock");
    let last_error = shared.error.lock().expect("error lock").clone();
    let result = sqlx::query(
        "UPDATE workers
            SET state = $2, current_job_id = (SELECT id FROM job_logs WHERE id = $3),
                jobs_in_flight = $4, jobs_done = $5, jobs_failed = $6,
                last_error = coalesce($7, last_error), last_heartbeat_at = now()
          WHERE id = $1",
    )
    .bind(shared.worker_id)
    .bind(shared.state().as_str())
    .bind(current)
    .bind(shared.running.load(Ordering::Relaxed) as i32)
    .bind(shared.done.load(Ordering::Relaxed) as i64)
    .bind(shared.failed.load(Ordering::Relaxed) as i64)
    .bind(last_error)
    .execute(&shared.pool)
    .await;
    match result {
        // A paused worker claims nothing, so this is its proof that the
        // database answers again.
        Ok(_) if shared.paused.load(Ordering::Relaxed) => shared.clear_error(),
        Ok(_) => {}
        Err(e) => shared.set_error("worker heartbeat failed", &e.into()),
    }
}

/// LISTENs for new jobs and config changes. After a lost connection the
/// dispatcher and the config watcher are woken anyway, since notifications
/// sent meanwhile are gone.
async fn listener(shared: Arc<Shared>) {
    let mut backoff = Backoff::new();
    loop {
        let mut listener = match PgListener::connect_with(&shared.pool).await {
            Ok(l) => l,
            Err(e) => {
                shared.set_error("LISTEN connection failed", &e.into());
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all([JOBS_CHANNEL, CONFIG_CHANNEL]).await {
            shared.set_error("LISTEN failed", &e.into());
            tokio::time::sleep(backoff.next()).await;
            continue;
        }
        shared.wake.notify_one();
        shared.config_changed.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    backoff = Backoff::new();
                    if n.channel() == JOBS_CHANNEL {
                        shared.wake.notify_one();
                    } else {
                        shared.config_changed.notify_one();
                    }
                }
                Ok(None) => {
                    warn!("LISTEN connection lost; reconnecting");
                    shared.wake.notify_one();
                    shared.config_changed.notify_one();
                }
                Err(e) => {
                    shared.set_error("LISTEN connection failed", &e.into());
                    break;
                }
            }
        }
        tokio::time::sleep(backoff.next()).await;
    }
}

/// Reloads `system_config` on notification and at least every second.
async fn config_watcher(shared: Arc<Shared>, tx: watch::Sender<QueueConfig>) {
    loop {
        tokio::select! {
            _ = shared.config_changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let loaded = match shared.pool.acquire().await {
            Ok(mut conn) => QueueConfig::load(&mut conn).await,
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
            Err(e) => shared.set_error("reading system_config failed", &e),
        }
    }
}

/// Maintenance, in the process that holds the leader lease.
async fn maintainer(
    shared: Arc<Shared>,
    leader: Arc<tokio::sync::Mutex<Option<maintenance::Leader>>>,
) {
    let mut last_try: Option<Instant> = None;
    let mut last_retention: Option<Instant> = None;
    let mut last_sync: Option<Instant> = None;
    loop {
        tokio::time::sleep(MAINTENANCE_EVERY).await;
        let mut guard = leader.lock().await;
        if guard.is_none() {
            if last_try.is_some_and(|t| t.elapsed() < LEAD_RETRY_EVERY) {
                continue;
            }
            last_try = Some(Instant::now());
            match maintenance::try_lead(&shared.pool).await {
                Ok(Some(l)) => {
                    info!(worker_id = %shared.worker_id, "leading maintenance");
                    *guard = Some(l);
                }
                Ok(None) => continue,
                Err(e) => {
                    shared.set_error("maintenance election failed", &e);
                    continue;
                }
            }
        }
        let Some(l) = guard.as_mut() else { continue };
        let config = shared.config.borrow().clone();
        let result = async {
            let rescued = l.tick().await?;
            if rescued.total() > 0 {
                warn!(
                    requeued = rescued.requeued,
                    failed = rescued.failed,
                    "took back jobs whose lease ran out"
                );
            }
            shared.registry.maintain().await;
            // A change that cannot be applied must not stop lease rescue:
            // it is logged and tried again next round.
            match l.apply_due_config_changes().await {
                Ok(0) => {}
                Ok(applied) => info!(applied, "applied approved configuration changes"),
                Err(e) => warn!(error = %e, "cannot apply approved configuration changes"),
            }
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                last_retention = Some(Instant::now());
                let deleted = l.retention(&config).await?;
                if deleted > 0 {
                    info!(deleted, "retention deleted old jobs");
                }
            }
            if let Some(interval) = config.sync_interval
                && last_sync.is_none_or(|t| t.elapsed() >= interval)
            {
                last_sync = Some(Instant::now());
                let queued = l.schedule_syncs(interval).await?;
                if queued > 0 {
                    info!(queued, "scheduled periodic wallet syncs");
                }
            }
            Ok::<_, QueueError>(())
        }
        .await;
        if let Err(e) = result {
            // The leader's session may be gone; let the election start over.
            shared.set_error("maintenance failed", &e);
            *guard = None;
        }
    }
}

/// After the dispatcher stops: wait for running jobs up to the grace
/// period, then release the rest (pending again, no retry used) and wait
/// for the outcomes to be recorded.
async fn shut_down(shared: &Arc<Shared>, options: &EngineOptions) {
    let in_flight = shared.held_len();
    info!(
        in_flight,
        grace_s = options.grace.as_secs_f64(),
        "stopping: finishing jobs in flight"
    );
    let deadline = tokio::time::Instant::now() + options.grace;
    while shared.held_len() > 0 {
        tokio::select! {
            _ = shared.room.notified() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let leftover: Vec<(Uuid, i32, Option<AbortHandle>)> = shared
        .held
        .lock()
        .expect("held lock")
        .iter_mut()
        .filter(|(_, h)| !h.finishing)
        .map(|(id, h)| {
            h.finishing = true;
            (*id, h.attempt, h.task.take())
        })
        .collect();
    if !leftover.is_empty() {
        warn!(
            jobs = leftover.len(),
            "grace period over: releasing unfinished jobs"
        );
    }
    for (id, attempt, task) in leftover {
        if let Some(task) = task {
            task.abort();
        }
        shared.send_finishing(id, attempt, Outcome::Snooze(Utc::now()));
    }
    let deadline = tokio::time::Instant::now() + RELEASE_TIMEOUT;
    while shared.held_len() > 0 {
        tokio::select! {
            _ = shared.room.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {
                warn!(jobs = shared.held_len(), "could not record every outcome; their leases will run out");
                break;
            }
        }
    }
}

async fn mark_stopped(shared: &Shared) {
    let result = sqlx::query(
        "UPDATE workers
            SET state = 'stopped', stopped_at = now(), current_job_id = NULL,
                jobs_in_flight = 0, jobs_done = $2, jobs_failed = $3, last_heartbeat_at = now()
          WHERE id = $1",
    )
    .bind(shared.worker_id)
    .bind(shared.done.load(Ordering::Relaxed) as i64)
    .bind(shared.failed.load(Ordering::Relaxed) as i64)
    .execute(&shared.pool)
    .await;
    if let Err(e) = result {
        warn!(
            "could not mark the worker stopped: {}",
            crate::db::one_line(&e)
        );
    }
}
