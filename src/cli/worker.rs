//! `walletops worker [--concurrency N]`: the worker engine as a service
//! process (the original's PM2 `wallet-workers`). Run any number, on any
//! hosts, against one database.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::config::Settings;
use crate::db::{self, PoolOptions};
use crate::engine::{
    Engine, EngineOptions, Handler, HandlerFuture, Registry, register_wallet_jobs,
};
use crate::jobs::{Context, CrashStep};
use crate::queue::{Job, Outcome};
use crate::tron::client::{ClientConfig, TronClient};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs run at once by this process
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Most jobs held at once, running or claimed ahead [default: 2 x concurrency]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub prefetch: Option<u32>,

    /// Seconds that jobs in flight get to finish after SIGTERM or SIGINT
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub grace_seconds: u64,

    /// Write logs to daily-rotated files in this directory instead of stderr
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Tests only: run every job type with a built-in handler:
    /// `noop`, `sleep-ms=N` (sleep, then complete) or `fail` (fail the attempt)
    #[arg(long, hide = true, value_name = "BEHAVIOUR")]
    pub test_handler: Option<TestBehaviour>,

    /// Tests only: append "start|end JOB_ID ATTEMPT UNIX_MS" lines for every
    /// run of the test handler to this file
    #[arg(long, hide = true, value_name = "FILE", requires = "test_handler")]
    pub test_handler_log: Option<PathBuf>,

    /// Most requests per second to the TRON node (0: no client-side limit)
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub tron_requests_per_second: f64,

    /// How often a job waiting for its transfer looks at the chain again, in
    /// milliseconds (a block takes 3000 on mainnet)
    #[arg(long, default_value_t = 3000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub chain_poll_ms: u64,

    /// Tests only: kill this process with SIGKILL when a wallet job reaches
    /// this step: `after-sign`, `after-broadcast` or `before-done`
    #[arg(
        long,
        hide = true,
        value_name = "STEP",
        conflicts_with = "test_handler"
    )]
    pub test_crash_at: Option<CrashStep>,

    #[command(flatten)]
    pub signing: super::signing::SigningArgs,
}

pub async fn run(settings: &Settings, migrate: bool, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let mut registry = Registry::new();
    if let Some(behaviour) = args.test_handler {
        let log = match &args.test_handler_log {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            )),
            None => None,
        };
        warn!(
            ?behaviour,
            "running with the test handler for every job type"
        );
        registry.register_all(std::sync::Arc::new(TestHandler { behaviour, log }));
    }

    // A long-running process waits out a database that is down: the pool
    // connects lazily and the engine retries with backoff.
    let url = db::resolve_url(settings).await?;
    if migrate {
        let pool = db::connect(&url, PoolOptions::default()).await?;
        db::migrate(&pool).await?;
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(db::connect_options(&url)?);

    if args.test_handler.is_none() {
        let ctx = wallet_jobs_context(settings, &pool, &args).await?;
        register_wallet_jobs(&mut registry, std::sync::Arc::new(ctx));
    }

    let mut options = EngineOptions::new(args.concurrency as usize);
    options.grace = Duration::from_secs(args.grace_seconds);
    if let Some(prefetch) = args.prefetch {
        options.prefetch = (prefetch as usize).max(options.concurrency);
    }
    let engine = Engine::new(pool, registry, options);
    let report = engine.run(stop_on_signal()?).await;
    info!(done = report.done, failed = report.failed, "exiting");
    Ok(ExitCode::SUCCESS)
}

/// What the wallet jobs need: the TRON node and a signer (the funds policy
/// and the master key, or `walletops signer`). Missing any is a start-up
/// error, before any job is claimed.
async fn wallet_jobs_context(
    settings: &Settings,
    pool: &sqlx::PgPool,
    args: &WorkerArgs,
) -> anyhow::Result<Context> {
    let mut config = ClientConfig::from_settings(settings).context(
        "no TRON node configured: set TRON_API_URL (and TRON_API_KEY for TronGrid) \
         or [tron] api_url in the config file",
    )?;
    if !(args.tron_requests_per_second >= 0.0 && args.tron_requests_per_second.is_finite()) {
        anyhow::bail!("--tron-requests-per-second must be a number of at least 0");
    }
    config.requests_per_second =
        (args.tron_requests_per_second > 0.0).then_some(args.tron_requests_per_second);
    let tron = TronClient::new(config).context("cannot build the TRON client")?;
    let signer = super::signing::signer(settings, &args.signing, "walletops worker").await?;
    let mut ctx = Context::new(pool.clone(), tron, signer);
    ctx.poll = Duration::from_millis(args.chain_poll_ms);
    ctx.crash_at = args.test_crash_at;
    if let Some(step) = ctx.crash_at {
        warn!(
            step = step.as_str(),
            "test crash step set: this worker kills itself there"
        );
    }
    Ok(ctx)
}

/// Resolves at the first SIGTERM or SIGINT; a second one exits at once.
fn stop_on_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: stopping (a second signal exits at once)"),
            _ = int.recv() => info!("SIGINT: stopping (a second signal exits at once)"),
        }
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("second signal: exiting at once; unfinished jobs return after their lease");
            std::process::exit(130);
        });
    })
}

/// What the hidden test handler does with every job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBehaviour {
    Noop,
    SleepMs(u64),
    Fail,
}

impl FromStr for TestBehaviour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "noop" => Ok(Self::Noop),
            "fail" => Ok(Self::Fail),
            _ => s
                .strip_prefix("sleep-ms=")
                .and_then(|n| n.parse().ok())
                .map(Self::SleepMs)
                .ok_or_else(|| {
                    format!("unknown test handler {s:?}; valid: noop, sleep-ms=N, fail")
                }),
        }
    }
}

/// The hidden `--test-handler`: lets tests drive a real worker process.
struct TestHandler {
    behaviour: TestBehaviour,
    log: Option<Mutex<std::fs::File>>,
}

impl TestHandler {
    fn record(&self, event: &str, job: &Job) {
        let Some(log) = &self.log else { return };
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let line = format!("{event} {} {} {ms}\n", job.id, job.attempt);
        // One write per line on an O_APPEND file: lines from several
        // processes never interleave.
        let _ = log.lock().expect("log lock").write_all(line.as_bytes());
    }
}

impl Handler for TestHandler {
    fn run<'a>(&'a self, job: &'a Job) -> HandlerFuture<'a> {
        Box::pin(async move {
            self.record("start", job);
            let outcome = match self.behaviour {
                TestBehaviour::Noop => Outcome::Complete,
                TestBehaviour::SleepMs(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Outcome::Complete
                }
                TestBehaviour::Fail => Outcome::Retry("test handler failure".into()),
            };
            self.record("end", job);
            outcome
        })
    }
}
