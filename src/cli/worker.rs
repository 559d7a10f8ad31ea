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
use tracing::{info, warn};

use super::wiring::{self, SecondSignal};
use crate::config::Settings;
use crate::db::{self, PoolOptions};
use crate::engine::{Engine, EngineOptions, Handler, HandlerFuture, Registry};
use crate::jobs::CrashStep;
use crate::queue::{Job, Outcome};

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

    #[command(flatten)]
    pub chain: super::wiring::ChainArgs,

    /// Tests only: kill this process with SIGKILL when a wallet job reaches
    /// this step: `after-sign`, `after-broadcast`, `before-done` or (the
    /// chain follower) `follower-mid-block`
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
        let mut jobs =
            wiring::wallet_jobs(settings, &args.chain, &args.signing, "walletops worker").await?;
        jobs.crash_at = args.test_crash_at;
        jobs.register(&pool, &mut registry);
    }

    let mut options = EngineOptions::new(args.concurrency as usize);
    options.grace = Duration::from_secs(args.grace_seconds);
    if let Some(prefetch) = args.prefetch {
        options.prefetch = (prefetch as usize).max(options.concurrency);
    }
    let engine = Engine::new(pool, registry, options);
    let report = engine
        .run(wiring::shutdown_signal(SecondSignal::Exit)?)
        .await;
    info!(done = report.done, failed = report.failed, "exiting");
    Ok(ExitCode::SUCCESS)
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
