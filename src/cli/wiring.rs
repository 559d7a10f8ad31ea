//! The worker side, built one way for `walletops worker`, `console
//! --embedded-workers` and `demo`: the TRON client, the signer (master key
//! and funds policy, or `walletops signer`), the jobs' context and the
//! engine; and the shutdown signal of the long-running commands.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use sqlx::PgPool;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::config::Settings;
use crate::engine::{Engine, EngineOptions, Registry, register_wallet_jobs};
use crate::jobs::{Context, CrashStep};
use crate::signer::Signer;
use crate::tron::client::{ClientConfig, TronClient};

/// How the wallet jobs use the chain: the same flags wherever workers run.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// Most requests per second to the TRON node (0: no client-side limit)
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub tron_requests_per_second: f64,

    /// How often a job waiting for its transfer looks at the chain again, in
    /// milliseconds (a block takes 3000 on mainnet)
    #[arg(long, default_value_t = 3000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub chain_poll_ms: u64,
}

impl Default for ChainArgs {
    fn default() -> Self {
        Self {
            tron_requests_per_second: 10.0,
            chain_poll_ms: 3000,
        }
    }
}

/// What the wallet jobs need: a TRON node and a signer.
pub(crate) struct WalletJobs {
    pub tron: TronClient,
    pub signer: Signer,
    /// How often a job waiting for its transfer looks at the chain.
    pub poll: Duration,
    /// Tests only: the step at which the process kills itself.
    pub crash_at: Option<CrashStep>,
}

/// The node and the signer from the settings and flags; missing either is
/// an error now, before any job is claimed. `what` names the command in
/// errors.
pub(crate) async fn wallet_jobs(
    settings: &Settings,
    chain: &ChainArgs,
    signing: &super::signing::SigningArgs,
    what: &str,
) -> anyhow::Result<WalletJobs> {
    let tron = tron_client(settings, chain, what)?;
    let signer = super::signing::signer(settings, signing, what).await?;
    Ok(WalletJobs {
        tron,
        signer,
        poll: Duration::from_millis(chain.chain_poll_ms),
        crash_at: None,
    })
}

/// The TRON client from the settings, limited to
/// `--tron-requests-per-second`; no node configured is an error. `what`
/// names the command in errors.
pub(crate) fn tron_client(
    settings: &Settings,
    chain: &ChainArgs,
    what: &str,
) -> anyhow::Result<TronClient> {
    let mut config = ClientConfig::from_settings(settings).with_context(|| {
        format!(
            "{what} needs a TRON node; no TRON node configured: set TRON_API_URL \
             (and TRON_API_KEY for TronGrid) or [tron] api_url in the config file"
        )
    })?;
    if !(chain.tron_requests_per_second >= 0.0 && chain.tron_requests_per_second.is_finite()) {
        anyhow::bail!("--tron-requests-per-second must be a number of at least 0");
    }
    config.requests_per_second =
        (chain.tron_requests_per_second > 0.0).then_some(chain.tron_requests_per_second);
    TronClient::new(config).context("cannot build the TRON client")
}

impl WalletJobs {
    /// Registers the wallet jobs, with their context, in `registry`.
    pub fn register(self, pool: &PgPool, registry: &mut Registry) {
        let mut ctx = Context::new(pool.clone(), self.tron, self.signer);
        ctx.poll = self.poll;
        ctx.crash_at = self.crash_at;
        if let Some(step) = ctx.crash_at {
            warn!(
                step = step.as_str(),
                "test crash step set: this worker kills itself there"
            );
        }
        register_wallet_jobs(registry, Arc::new(ctx));
    }

    /// The engine that runs the wallet jobs.
    pub fn engine(self, pool: PgPool, options: EngineOptions) -> Engine {
        let mut registry = Registry::new();
        self.register(&pool, &mut registry);
        Engine::new(pool, registry, options)
    }
}

/// What a second shutdown signal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondSignal {
    /// Nothing more: the first one's shutdown goes on.
    Wait,
    /// Exit at once with status 130.
    Exit,
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C).
pub(crate) fn shutdown_signal(
    second: SecondSignal,
) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        let hint = match second {
            SecondSignal::Wait => "",
            SecondSignal::Exit => " (a second signal exits at once)",
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: stopping{hint}"),
            _ = int.recv() => info!("SIGINT: stopping{hint}"),
        }
        if second == SecondSignal::Exit {
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                eprintln!(
                    "second signal: exiting at once; unfinished jobs return after their lease"
                );
                std::process::exit(130);
            });
        }
    })
}
