//! `walletops signer`: holds the master key and the funds policy, and signs
//! for workers (`walletops worker --signer URL`) over authenticated HTTP on
//! a loopback address. Workers hold no key; this process needs no database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::Args;

use crate::config::Settings;
use crate::policy::{self, Policy};
use crate::signer::Core;
use crate::signer::auth::{ReplayGuard, SharedSecret};
use crate::signer::server::{Bound, Endpoint, Ledger, SignerState};
use crate::wallets::MasterKey;

#[derive(Debug, Args)]
pub struct SignerArgs {
    /// Where to listen: ADDR:PORT (keep it on loopback) or unix:/PATH (a socket of mode 0660)
    #[arg(long, default_value = "127.0.0.1:7207", value_name = "ADDR")]
    pub listen: Endpoint,

    /// The funds policy [default: $XDG_CONFIG_HOME/walletops/policy.toml]
    #[arg(long, env = "WALLETOPS_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// The secret shared with the workers (a file of at least 32 random bytes)
    #[arg(long, env = "WALLETOPS_SIGNER_SECRET_FILE", value_name = "FILE")]
    pub secret_file: PathBuf,

    /// The append-only log of every signature (JSON lines); today's caps are counted from it
    #[arg(long, env = "WALLETOPS_SIGNER_LEDGER", value_name = "FILE")]
    pub ledger: PathBuf,

    /// Write logs to daily-rotated files in this directory instead of stderr
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

pub async fn run(settings: &Settings, args: SignerArgs) -> anyhow::Result<ExitCode> {
    let path = policy::resolve_path(args.policy.as_deref())?;
    let (policy, policy_text) = Policy::load_with_text(&path)?;
    let master = MasterKey::load(settings.master_key.as_ref())
        .context("walletops signer needs the wallet master key")?;
    let secret = SharedSecret::from_file(&args.secret_file)?;
    let ledger = Ledger::open(&args.ledger)?;
    let state = Arc::new(SignerState {
        core: Core::new(master, policy),
        policy_text,
        secret,
        replay: ReplayGuard::default(),
        ledger: Mutex::new(ledger),
    });
    let bound = Bound::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {:?}", args.listen))?;
    let url = bound.url().context("cannot read the listening address")?;
    if !bound.is_local() {
        tracing::warn!(%url, "the signer listens beyond loopback: keep that interface private");
    }
    println!(
        "walletops signer listening on {url} (policy {})",
        path.display()
    );
    tracing::info!(%url, policy = %path.display(), ledger = %args.ledger.display(), "signer started");
    let stop = super::wiring::shutdown_signal(super::wiring::SecondSignal::Wait)?;
    bound
        .serve(state, stop)
        .await
        .context("the signer's server failed")?;
    Ok(ExitCode::SUCCESS)
}
