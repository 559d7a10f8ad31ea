//! `walletops bench --jobs N --concurrency C`: the real enqueue, claim and
//! complete path with a no-op handler, measured exactly as
//! `bench-peers/README.md` measures the peers, printed as one JSON line.
//!
//! 1. enqueue: N jobs in sequential bulk calls of `ENQUEUE_BATCH`, no worker
//!    running; N / wall time.
//! 2. drain: an engine with concurrency C started on that backlog; timed
//!    from just before it starts until the handler ran N times and no job is
//!    left pending or processing (polled every 5 ms).
//! 3. pickup: with the engine idle (500 ms after the drain),
//!    `LATENCY_SAMPLES` single enqueues `LATENCY_GAP_MS` apart, each carrying
//!    the time just before its enqueue call; the handler records now minus
//!    that time. Nearest-rank p50 and p99.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use sqlx::PgPool;
use tokio::sync::{Notify, oneshot};

use crate::config::Settings;
use crate::db::{self, PoolOptions};
use crate::engine::{Engine, EngineOptions, Handler, HandlerFuture, Registry};
use crate::queue::{self, Job, JobType, NewJob, Outcome};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: Option<BenchWhat>,
    /// Jobs to enqueue and drain
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
    /// Jobs run at once
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,
    /// Most jobs the engine holds at once, running or claimed ahead (the
    /// counterpart of graphile-worker's localQueue.size)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub prefetch: u32,
    /// Jobs per bulk enqueue call
    #[arg(long, env = "ENQUEUE_BATCH", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub enqueue_batch: u32,
    /// Pickup latency samples
    #[arg(long, env = "LATENCY_SAMPLES", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub latency_samples: u32,
    /// Milliseconds between pickup samples
    #[arg(long, env = "LATENCY_GAP_MS", default_value_t = 10)]
    pub latency_gap_ms: u64,
}

/// The other benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// TRX burned per sweep in burn and in delegate mode, on the simulator
    /// with the real jobs: one JSON line (needs a database of its own)
    Costs(super::bench_costs::CostsBenchArgs),
    /// Deposits found by following the chain against per-wallet sync at
    /// the same request budget, at several wallet counts (creates and
    /// drops a database per size)
    Deposits(super::bench_deposits::DepositsBenchArgs),
}

/// Counts runs; records pickup latency for jobs that carry their enqueue time.
struct BenchHandler {
    runs: AtomicU64,
    target: AtomicU64,
    reached: Notify,
    samples: Mutex<Vec<f64>>,
}

impl Handler for BenchHandler {
    fn run<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            let t0 = job
                .data
                .as_ref()
                .and_then(|d| d.get("t0_us"))
                .and_then(serde_json::Value::as_u64);
            if let Some(t0) = t0 {
                let ms = now_us().saturating_sub(t0) as f64 / 1000.0;
                self.samples.lock().expect("samples lock").push(ms);
            }
            let runs = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
            if runs >= self.target.load(Ordering::Relaxed) {
                self.reached.notify_one();
            }
            Outcome::Complete
        })
    }
}

/// Whether any job is pending or processing, from the counts the database
/// maintains (exact, and a few rows to read however large the table: a
/// scan for such a job took 93 ms on a million finished ones, inside the
/// timed drain).
async fn active_jobs(pool: &PgPool) -> anyhow::Result<bool> {
    let total = queue::counts(pool).await?.total;
    Ok(total.pending + total.processing > 0)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

pub async fn run(settings: &Settings, migrate: bool, args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        Some(BenchWhat::Costs(costs)) => {
            return super::bench_costs::run(settings, migrate, costs).await;
        }
        Some(BenchWhat::Deposits(deposits)) => {
            return super::bench_deposits::run(settings, deposits).await;
        }
        None => {}
    }
    let url = db::resolve_url(settings).await?;
    let pool = db::connect(
        &url,
        PoolOptions {
            max_connections: 12,
            acquire_timeout: Duration::from_secs(30),
        },
    )
    .await?;
    if migrate {
        db::migrate(&pool).await?;
    }
    refuse_busy_database(&pool).await?;

    let n = u64::from(args.jobs);
    let handler = std::sync::Arc::new(BenchHandler {
        runs: AtomicU64::new(0),
        target: AtomicU64::new(n),
        reached: Notify::new(),
        samples: Mutex::new(Vec::new()),
    });
    let bench_data = serde_json::json!({ "bench": true });

    // 1. Enqueue.
    let started = Instant::now();
    let mut left = args.jobs;
    while left > 0 {
        let size = left.min(args.enqueue_batch);
        let batch: Vec<NewJob> = (0..size)
            .map(|_| NewJob {
                data: bench_data.clone(),
                ..NewJob::new(JobType::Sync)
            })
            .collect();
        let inserted = queue::enqueue_many(&pool, &batch).await?;
        if inserted != u64::from(size) {
            bail!("bulk enqueue inserted {inserted} of {size} jobs");
        }
        left -= size;
    }
    let enqueue_s = started.elapsed().as_secs_f64();

    // 2. Drain.
    let mut registry = Registry::new();
    registry.register_all(handler.clone());
    let mut options = EngineOptions::new(args.concurrency as usize);
    options.grace = Duration::from_secs(10);
    options.prefetch = (args.prefetch as usize).max(options.concurrency);
    let engine = Engine::new(pool.clone(), registry, options);
    let worker_id = engine.worker_id();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let engine_task = tokio::spawn(engine.run(async move {
        let _ = stop_rx.await;
    }));
    while handler.runs.load(Ordering::Relaxed) < n {
        handler.reached.notified().await;
    }
    loop {
        if !active_jobs(&pool).await? {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_s = started.elapsed().as_secs_f64();

    // 3. Pickup.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = args.latency_samples as usize;
    handler.target.store(n + samples as u64, Ordering::Relaxed);
    let mut conn = pool.acquire().await?;
    for _ in 0..samples {
        let job = NewJob {
            data: serde_json::json!({ "bench": true, "t0_us": now_us() }),
            ..NewJob::new(JobType::Sync)
        };
        queue::enqueue(&mut conn, &job).await?;
        tokio::time::sleep(Duration::from_millis(args.latency_gap_ms)).await;
    }
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(30);
    while handler.samples.lock().expect("samples lock").len() < samples {
        if Instant::now() > deadline {
            bail!("pickup: not every sample job ran within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let _ = stop_tx.send(());
    let report = engine_task.await.context("the engine task failed")?;
    if report.done != n + samples as u64 {
        bail!(
            "the engine completed {} jobs, expected {}",
            report.done,
            n + samples as u64
        );
    }
    clean_up(&pool, worker_id).await?;

    let mut latencies = handler.samples.lock().expect("samples lock").clone();
    latencies.sort_by(f64::total_cmp);
    let line = serde_json::json!({
        "n": n,
        "concurrency": args.concurrency,
        "enqueue_jobs_per_s": (n as f64 / enqueue_s).round() as u64,
        "drain_jobs_per_s": (n as f64 / drain_s).round() as u64,
        "pickup_p50_ms": round2(nearest_rank(&latencies, 0.50)),
        "pickup_p99_ms": round2(nearest_rank(&latencies, 0.99)),
    });
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// The bench's jobs would mix with real ones, and real workers would take
/// them: run it only on a database with no job waiting or running and no
/// live worker.
pub(super) async fn refuse_busy_database(pool: &PgPool) -> anyhow::Result<()> {
    let active = active_jobs(pool).await?;
    let workers = queue::workers::live_count(pool, Duration::from_secs(30)).await?;
    let paused = crate::settings::paused(pool).await?;
    if active {
        bail!(
            "the database has pending or processing jobs; run the benchmark on a database of its own"
        );
    }
    if workers > 0 {
        bail!(
            "{workers} worker(s) are running on this database; run the benchmark on a database of its own"
        );
    }
    if paused {
        bail!(
            "workers are paused (system_config workers.paused); the benchmark needs them running"
        );
    }
    Ok(())
}

/// Deletes the benchmark's jobs and its `workers` row.
async fn clean_up(pool: &PgPool, worker_id: uuid::Uuid) -> anyhow::Result<()> {
    queue::delete_marked(pool, worker_id, &serde_json::json!({ "bench": true })).await?;
    queue::workers::delete(pool, worker_id).await?;
    Ok(())
}

/// Nearest-rank percentile of sorted samples.
pub(super) fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(nearest_rank(&s, 0.50), 100.0);
        assert_eq!(nearest_rank(&s, 0.99), 198.0);
        assert_eq!(nearest_rank(&[7.0], 0.99), 7.0);
    }
}
