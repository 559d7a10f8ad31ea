//! The worker engine against a real PostgreSQL: in-process engines for
//! exactly-once and handler failures, real `walletops worker` processes for
//! SIGKILL, pause/start, SIGTERM and lost connections.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;
use walletops::engine::{Engine, EngineOptions, Handler, HandlerFuture, Registry};
use walletops::queue::{self, Job, JobType, NewJob, Outcome};

async fn set_config(pool: &PgPool, key: &str, value: &str) {
    let n = sqlx::query("UPDATE system_config SET value = $2::jsonb WHERE key = $1")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1, "{key} exists");
}

async fn enqueue_n(pool: &PgPool, n: usize) {
    let jobs: Vec<NewJob> = (0..n).map(|_| NewJob::new(JobType::Sync)).collect();
    queue::enqueue_many(pool, &jobs).await.unwrap();
}

async fn count_status(pool: &PgPool, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM job_logs WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Counts runs per job; optionally sleeps.
struct Counting {
    runs: Mutex<HashMap<Uuid, u32>>,
    sleep: Duration,
}

impl Handler for Counting {
    fn run<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            *self.runs.lock().unwrap().entry(job.id).or_default() += 1;
            if !self.sleep.is_zero() {
                tokio::time::sleep(self.sleep).await;
            }
            Outcome::Complete
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_workers_complete_every_job_exactly_once() {
    let db = common::fresh_db().await;
    const JOBS: usize = 3000;
    enqueue_n(&db.pool, JOBS).await;
    let handler = Arc::new(Counting {
        runs: Mutex::new(HashMap::new()),
        sleep: Duration::from_millis(1),
    });
    let mut engines = Vec::new();
    for _ in 0..4 {
        let mut registry = Registry::new();
        registry.register_all(handler.clone());
        let mut options = EngineOptions::new(8);
        options.prefetch = 40;
        let engine = Engine::new(db.pool.clone(), registry, options);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(engine.run(async move {
            let _ = rx.await;
        }));
        engines.push((tx, task));
    }
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(120), "every job completed", || {
        let pool = pool.clone();
        async move { count_status(&pool, "completed").await == JOBS as i64 }
    })
    .await;
    let mut done = 0;
    for (tx, task) in engines {
        tx.send(()).unwrap();
        let report = task.await.unwrap();
        assert!(report.done > 0, "every engine took part");
        done += report.done;
    }
    assert_eq!(done, JOBS as u64);
    {
        let runs = handler.runs.lock().unwrap();
        assert_eq!(runs.len(), JOBS);
        assert!(runs.values().all(|n| *n == 1), "no job ran twice");
    }
    let stopped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workers WHERE state = 'stopped' AND stopped_at IS NOT NULL",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stopped, 4);
    let recorded: i64 = sqlx::query_scalar("SELECT sum(jobs_done)::bigint FROM workers")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        recorded, JOBS as i64,
        "the workers rows count what they did"
    );
    // The maintained counts agree (and attempts were one each).
    assert_eq!(
        queue::counts(&db.pool).await.unwrap().total.completed,
        JOBS as i64
    );
    let max_attempt: i32 = sqlx::query_scalar("SELECT max(attempt) FROM job_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(max_attempt, 1);
}

struct Panics;
impl Handler for Panics {
    fn run<'a>(&'a self, _job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move { panic!("wallet exploded") })
    }
}

struct Hangs;
impl Handler for Hangs {
    fn run<'a>(&'a self, _job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::Complete
        })
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(300)
    }
}

#[tokio::test]
async fn a_panicking_hanging_or_missing_handler_fails_only_that_attempt() {
    let db = common::fresh_db().await;
    set_config(&db.pool, "queue.max_retries", "1").await;
    let mut conn = db.pool.acquire().await.unwrap();
    let mut ids = HashMap::new();
    for t in JobType::ALL {
        let job = queue::enqueue(&mut conn, &NewJob::new(*t))
            .await
            .unwrap()
            .job;
        ids.insert(*t, job.id);
    }
    let mut registry = Registry::new();
    registry.register(JobType::Sync, Panics);
    registry.register(JobType::Consolidation, Hangs);
    let engine = Engine::new(db.pool.clone(), registry, EngineOptions::new(4));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(async move {
        let _ = rx.await;
    }));
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(20), "three dead letters", || {
        let pool = pool.clone();
        async move { count_status(&pool, "failed").await == 3 }
    })
    .await;
    // The engine lives on: a new job of a type that works would run; here
    // it just stops cleanly.
    tx.send(()).unwrap();
    let report = task.await.unwrap();
    assert_eq!(report.failed, 3);
    let message = |t: JobType| {
        let pool = db.pool.clone();
        let id = ids[&t];
        async move {
            queue::get(&mut pool.acquire().await.unwrap(), id)
                .await
                .unwrap()
                .error_message
                .unwrap()
        }
    };
    assert_eq!(
        message(JobType::Sync).await,
        "handler panicked: wallet exploded"
    );
    assert_eq!(
        message(JobType::Consolidation).await,
        "handler timed out after 0.3 s"
    );
    assert_eq!(
        message(JobType::GasTopup).await,
        "no handler registered for job type gas-topup"
    );
}

/// A real `walletops worker` process with the hidden test handler.
struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn start(url: &str, concurrency: u32, behaviour: &str, log: &Path, extra: &[&str]) -> Self {
        let stderr =
            std::fs::File::create(log.with_extension(format!("stderr.{}", Uuid::new_v4())))
                .unwrap();
        let child = common::walletops()
            .env("DATABASE_URL", url)
            .env("WALLETOPS_LOG", "walletops=info")
            .args(["worker", "--concurrency", &concurrency.to_string()])
            .args(["--test-handler", behaviour, "--test-handler-log"])
            .arg(log)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start walletops worker");
        Self { child }
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the exit, at most `limit`; returns the exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "worker did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of the test handler's log.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    start: bool,
    job: Uuid,
    attempt: i32,
    ms: u128,
}

fn runs(log: &Path) -> Vec<Run> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Run {
                start: f[0] == "start",
                job: f[1].parse().unwrap(),
                attempt: f[2].parse().unwrap(),
                ms: f[3].parse().unwrap(),
            }
        })
        .collect()
}

fn starts(log: &Path) -> usize {
    runs(log).iter().filter(|r| r.start).count()
}

fn temp_log(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("runs.log")
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_jobs_are_completed_by_another_after_the_lease() {
    let db = common::fresh_db().await;
    set_config(&db.pool, "queue.lease_seconds", "2").await;
    enqueue_n(&db.pool, 12).await;
    let dir = tempfile::tempdir().unwrap();
    let log = temp_log(&dir);
    let url = db.url.expose().to_string();

    let mut a = WorkerProcess::start(&url, 4, "sleep-ms=60000", &log, &[]);
    wait_until(Duration::from_secs(30), "four runs started", || async {
        starts(&log) == 4
    })
    .await;
    let victims: Vec<Uuid> = runs(&log).iter().map(|r| r.job).collect();
    a.signal(Signal::SIGKILL);
    a.wait(Duration::from_secs(5));
    let killed_at = now_ms();

    let _b = WorkerProcess::start(&url, 4, "sleep-ms=50", &log, &[]);
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(60), "all twelve completed", || {
        let pool = pool.clone();
        async move { count_status(&pool, "completed").await == 12 }
    })
    .await;

    let all = runs(&log);
    for victim in &victims {
        let of: Vec<&Run> = all.iter().filter(|r| r.job == *victim).collect();
        // Started by A (never ended), then once by B after A died.
        assert_eq!(of.len(), 3, "{victim}: {of:?}");
        assert!(of[0].start && of[0].attempt == 1);
        assert!(of[1].start && of[1].attempt == 2 && of[1].ms >= killed_at);
        assert!(!of[2].start && of[2].attempt == 2);
    }
    // Every other job ran exactly once, start to end.
    for job in all.iter().map(|r| r.job) {
        if !victims.contains(&job) {
            let n = all.iter().filter(|r| r.job == job).count();
            assert_eq!(n, 2, "{job} ran once");
        }
    }
    let retried: Vec<(i32, String)> =
        sqlx::query_as("SELECT retry_count, status FROM job_logs WHERE id = ANY($1)")
            .bind(&victims)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        retried.iter().all(|(n, s)| *n == 1 && s == "completed"),
        "{retried:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_claiming_in_every_process_and_start_resumes() {
    let db = common::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let log = temp_log(&dir);
    let url = db.url.expose().to_string();
    let _a = WorkerProcess::start(&url, 2, "sleep-ms=10", &log, &[]);
    let _b = WorkerProcess::start(&url, 2, "sleep-ms=10", &log, &[]);
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(30), "two idle workers", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM workers WHERE state = 'idle'")
                .fetch_one(&pool)
                .await
                .unwrap()
                == 2
        }
    })
    .await;

    set_config(&db.pool, "workers.paused", "true").await;
    wait_until(Duration::from_secs(3), "both workers paused", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM workers WHERE state = 'paused'")
                .fetch_one(&pool)
                .await
                .unwrap()
                == 2
        }
    })
    .await;
    enqueue_n(&db.pool, 20).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count_status(&db.pool, "pending").await,
        20,
        "paused workers claim nothing"
    );
    assert_eq!(starts(&log), 0);

    let resumed_at = now_ms();
    set_config(&db.pool, "workers.paused", "false").await;
    wait_until(Duration::from_secs(10), "all jobs completed", || {
        let pool = pool.clone();
        async move { count_status(&pool, "completed").await == 20 }
    })
    .await;
    let first = runs(&log).iter().map(|r| r.ms).min().unwrap();
    assert!(
        first - resumed_at < 1000,
        "start reached a worker within a second (took {} ms)",
        first - resumed_at
    );
    wait_until(Duration::from_secs(3), "both workers resumed", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM workers WHERE state = 'paused'")
                .fetch_one(&pool)
                .await
                .unwrap()
                == 0
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_jobs_in_flight_releases_the_rest_and_exits_zero() {
    let db = common::fresh_db().await;
    enqueue_n(&db.pool, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let log = temp_log(&dir);
    let url = db.url.expose().to_string();
    let mut w = WorkerProcess::start(&url, 3, "sleep-ms=1500", &log, &[]);
    wait_until(Duration::from_secs(30), "three runs started", || async {
        starts(&log) == 3
    })
    .await;
    let pool = db.pool.clone();
    wait_until(
        Duration::from_secs(3),
        "the workers row shows the work",
        || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, bool>(
                    "SELECT state = 'active' AND jobs_in_flight = 3 AND current_job_id IS NOT NULL
                   FROM workers",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        },
    )
    .await;
    w.signal(Signal::SIGTERM);
    assert_eq!(w.wait(Duration::from_secs(20)), Some(0));

    let all = runs(&log);
    assert_eq!(
        all.iter().filter(|r| r.start).count(),
        3,
        "nothing new started"
    );
    assert_eq!(
        all.iter().filter(|r| !r.start).count(),
        3,
        "jobs in flight finished"
    );
    assert_eq!(count_status(&db.pool, "completed").await, 3);
    assert_eq!(
        count_status(&db.pool, "pending").await,
        7,
        "the rest released"
    );
    let retries: i64 = sqlx::query_scalar("SELECT coalesce(sum(retry_count), 0) FROM job_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(retries, 0, "a release uses no retry");
    let state: String = sqlx::query_scalar("SELECT state FROM workers")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(state, "stopped");

    // Past the grace period, unfinished jobs are released too.
    let mut w = WorkerProcess::start(&url, 2, "sleep-ms=60000", &log, &["--grace-seconds", "1"]);
    wait_until(Duration::from_secs(30), "two more runs started", || async {
        starts(&log) == 5
    })
    .await;
    w.signal(Signal::SIGTERM);
    assert_eq!(w.wait(Duration::from_secs(15)), Some(0));
    assert_eq!(count_status(&db.pool, "pending").await, 7);
    assert_eq!(count_status(&db.pool, "processing").await, 0);

    // A second signal exits at once.
    let mut w = WorkerProcess::start(&url, 2, "sleep-ms=60000", &log, &[]);
    wait_until(Duration::from_secs(30), "two more runs started", || async {
        starts(&log) == 7
    })
    .await;
    w.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.signal(Signal::SIGINT);
    assert_eq!(w.wait(Duration::from_secs(3)), Some(130));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_recovers_after_its_connections_are_killed() {
    let db = common::fresh_db().await;
    set_config(&db.pool, "queue.lease_seconds", "2").await;
    const JOBS: i64 = 300;
    enqueue_n(&db.pool, JOBS as usize).await;
    let dir = tempfile::tempdir().unwrap();
    let log = temp_log(&dir);
    let url = db.url.expose().to_string();
    let _w = WorkerProcess::start(&url, 4, "sleep-ms=20", &log, &[]);

    for round in 1..=3 {
        wait_until(Duration::from_secs(30), "progress", || async {
            starts(&log) >= round * 40
        })
        .await;
        // Every backend of the test database but the test's own pool.
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()) k",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(killed > 0, "round {round}: some connections were killed");
    }
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(90), "all jobs completed", || {
        let pool = pool.clone();
        async move { count_status(&pool, "completed").await == JOBS }
    })
    .await;
    // At most once at a time: any job that ran twice did so one after the other.
    let all = runs(&log);
    let mut by_job: HashMap<Uuid, Vec<&Run>> = HashMap::new();
    for r in &all {
        by_job.entry(r.job).or_default().push(r);
    }
    assert_eq!(by_job.len(), JOBS as usize);
    for (job, rs) in by_job {
        for pair in rs.windows(2) {
            assert!(
                pair[0].start != pair[1].start,
                "{job} ran twice at the same time: {rs:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_longer_than_its_lease_stays_with_its_live_worker() {
    let db = common::fresh_db().await;
    set_config(&db.pool, "queue.lease_seconds", "2").await;
    let handler = Arc::new(Counting {
        runs: Mutex::new(HashMap::new()),
        sleep: Duration::from_secs(5),
    });
    let mut engines = Vec::new();
    for _ in 0..2 {
        let mut registry = Registry::new();
        registry.register_all(handler.clone());
        let engine = Engine::new(db.pool.clone(), registry, EngineOptions::new(1));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(engine.run(async move {
            let _ = rx.await;
        }));
        engines.push((tx, task));
    }
    enqueue_n(&db.pool, 1).await;
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(30), "the job completed", || {
        let pool = pool.clone();
        async move { count_status(&pool, "completed").await == 1 }
    })
    .await;
    for (tx, task) in engines {
        tx.send(()).unwrap();
        task.await.unwrap();
    }
    assert_eq!(handler.runs.lock().unwrap().values().sum::<u32>(), 1);
    let (attempt, retries): (i32, i32) =
        sqlx::query_as("SELECT attempt, retry_count FROM job_logs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (attempt, retries),
        (1, 0),
        "the lease was renewed, never rescued"
    );
}

#[tokio::test]
async fn periodic_sync_runs_only_when_switched_on() {
    let db = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO user_wallets (address, last_synced_at)
         VALUES ('TNever', NULL), ('TStale', now() - interval '1 hour'), ('TFresh', now())",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let run_for = |secs: u64| {
        let pool = db.pool.clone();
        async move {
            let engine = Engine::new(pool, Registry::new(), EngineOptions::new(1));
            engine
                .run(tokio::time::sleep(Duration::from_secs(secs)))
                .await
        }
    };
    // Off by default: nothing creates jobs on its own.
    run_for(3).await;
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM job_logs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);

    set_config(&db.pool, "sync.interval_seconds", "600").await;
    set_config(&db.pool, "workers.paused", "true").await;
    run_for(3).await;
    let queued: Vec<(String, String)> =
        sqlx::query_as("SELECT wallet_address, job_type FROM job_logs ORDER BY wallet_address")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        queued,
        vec![
            ("TNever".to_string(), "sync".to_string()),
            ("TStale".to_string(), "sync".to_string())
        ],
        "wallets not synced within the interval, once each"
    );
}

/// `walletops bench` runs the real path and prints its one-line JSON report,
/// cleans up after itself, and refuses a database with jobs of its own.
#[tokio::test]
async fn bench_prints_one_json_line_and_refuses_a_busy_database() {
    let db = common::fresh_db().await;
    let run = || {
        common::walletops()
            .env("DATABASE_URL", db.url.expose())
            .args(["bench", "--jobs", "300", "--concurrency", "4"])
            .args(["--latency-samples", "5", "--latency-gap-ms", "1"])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["n"], 300);
    assert_eq!(line["concurrency"], 4);
    for key in [
        "enqueue_jobs_per_s",
        "drain_jobs_per_s",
        "pickup_p50_ms",
        "pickup_p99_ms",
    ] {
        assert!(line[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {line}");
    }
    let (jobs, workers): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM job_logs), (SELECT count(*) FROM workers)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (jobs, workers),
        (0, 0),
        "the bench removed its jobs and worker"
    );

    let mut conn = db.pool.acquire().await.unwrap();
    let waiting = queue::enqueue(&mut conn, &NewJob::new(JobType::Sync))
        .await
        .unwrap()
        .job;
    let out = run();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("pending or processing jobs"), "{stderr}");
    let after = queue::get(&mut conn, waiting.id).await.unwrap();
    assert_eq!((after.status, after.attempt), (waiting.status, 0));
}

/// Registers a `workers` row for a test that claims by hand.
async fn register_worker(pool: &PgPool) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO workers (id, host, pid, version) VALUES ($1, 'test', 1, 'test')")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn retries_and_status(pool: &PgPool, id: Uuid) -> (i32, String) {
    sqlx::query_as("SELECT retry_count, status FROM job_logs WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_lease_lost_before_the_job_started_costs_no_retry() {
    let db = common::fresh_db().await;
    let holder = register_worker(&db.pool).await;
    enqueue_n(&db.pool, 4).await;
    // The last retry: a started job out of retries fails, an unstarted one must not.
    sqlx::query("UPDATE job_logs SET retry_count = 2")
        .execute(&db.pool)
        .await
        .unwrap();
    let lease = Duration::from_secs(2);
    let held = queue::claim_ahead(&db.pool, holder, 4, 1, lease)
        .await
        .unwrap();
    assert_eq!(held.len(), 4);
    // One took a free slot and started in the claim; three wait for a slot.
    let (mut started, ahead): (Vec<Job>, Vec<Job>) =
        held.into_iter().partition(|j| j.started_at.is_some());
    assert_eq!((started.len(), ahead.len()), (1, 3));
    // One of those gets its slot and starts.
    let marked = queue::start(&db.pool, holder, &[(ahead[0].id, ahead[0].attempt)])
        .await
        .unwrap();
    assert_eq!(marked, vec![ahead[0].id]);
    started.push(ahead[0].clone());
    let ahead = &ahead[1..];
    // A start under someone else's name or attempt starts nothing.
    let other = register_worker(&db.pool).await;
    assert!(
        queue::start(&db.pool, other, &[(ahead[0].id, ahead[0].attempt)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        queue::start(&db.pool, holder, &[(ahead[0].id, ahead[0].attempt + 1)])
            .await
            .unwrap()
            .is_empty()
    );

    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    // Its lease ran out: it may be rescued any moment, so it must not start.
    assert!(
        queue::start(&db.pool, holder, &[(ahead[1].id, ahead[1].attempt)])
            .await
            .unwrap()
            .is_empty(),
        "a lapsed lease does not start"
    );
    let mut conn = db.pool.acquire().await.unwrap();
    let out = queue::rescue_expired(&mut conn).await.unwrap();
    assert_eq!((out.requeued, out.released, out.failed), (0, 2, 2));
    for job in &started {
        let (retries, status) = retries_and_status(&db.pool, job.id).await;
        assert_eq!(
            (retries, status.as_str()),
            (3, "failed"),
            "{} started",
            job.id
        );
    }
    for job in ahead {
        let (retries, status) = retries_and_status(&db.pool, job.id).await;
        assert_eq!(
            (retries, status.as_str()),
            (2, "pending"),
            "{} never started",
            job.id
        );
    }
    // Released jobs are claimed again as a new attempt.
    let again = queue::claim(&db.pool, holder, 10, LEASE_FOR_TESTS)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(
        again
            .iter()
            .all(|j| j.attempt == 2 && j.started_at.is_some())
    );
}

const LEASE_FOR_TESTS: Duration = Duration::from_secs(30);

/// The crash churn of the issue: a worker killed again and again, each time
/// holding one running job and several claimed ahead of a slot. Each kill
/// costs a retry to the one job that ran, never to those that waited, so
/// no job is dead-lettered although the kills outnumber the retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_worker_kills_cost_retries_only_to_jobs_that_started() {
    let db = common::fresh_db().await;
    set_config(&db.pool, "queue.lease_seconds", "1").await;
    set_config(&db.pool, "queue.max_retries", "3").await;
    enqueue_n(&db.pool, 6).await;
    let dir = tempfile::tempdir().unwrap();
    let log = temp_log(&dir);
    let url = db.url.expose().to_string();
    let mut conn = db.pool.acquire().await.unwrap();

    for round in 1..=4 {
        let mut w = WorkerProcess::start(&url, 1, "sleep-ms=60000", &log, &["--prefetch", "4"]);
        let before = starts(&log);
        wait_until(Duration::from_secs(30), "a run started", || async {
            starts(&log) > before
        })
        .await;
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_logs WHERE status = 'processing' AND started_at IS NULL",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(held, 3, "round {round}: three jobs held ahead of the slot");
        w.signal(Signal::SIGKILL);
        w.wait(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let out = queue::rescue_expired(&mut conn).await.unwrap();
        assert_eq!(out.requeued + out.released, 4, "round {round}: {out:?}");
        assert_eq!(
            out.requeued, 1,
            "round {round}: only the running job used a retry"
        );
    }

    let all = runs(&log);
    let jobs: Vec<(Uuid, i32, String)> =
        sqlx::query_as("SELECT id, retry_count, status FROM job_logs")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for (id, retries, status) in &jobs {
        let killed_runs = all.iter().filter(|r| r.job == *id && r.start).count() as i32;
        assert_eq!(*retries, killed_runs, "{id}: one retry per run killed");
        assert_eq!(status, "pending", "{id}");
    }
    assert!(jobs.iter().all(|(_, r, _)| *r < 3));

    let _w = WorkerProcess::start(&url, 2, "noop", &log, &[]);
    let pool = db.pool.clone();
    wait_until(Duration::from_secs(30), "all six completed", || {
        let pool = pool.clone();
        async move { count_status(&pool, "completed").await == 6 }
    })
    .await;
}
