//! How a process that runs wallet jobs signs: in process under a funds
//! policy file (`--policy`, with the master key), or through
//! `walletops signer` (`--signer URL`, with no key at all).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use url::Url;

use crate::config::Settings;
use crate::policy::{self, Policy};
use crate::signer::auth::SharedSecret;
use crate::signer::remote::RemoteSigner;
use crate::signer::{Core, Signer};
use crate::wallets::MasterKey;

#[derive(Debug, Clone, Default, Args)]
pub struct SigningArgs {
    /// The funds policy (TOML) to sign under [default: $XDG_CONFIG_HOME/walletops/policy.toml]
    #[arg(
        long,
        env = "WALLETOPS_POLICY",
        value_name = "FILE",
        conflicts_with = "signer"
    )]
    pub policy: Option<PathBuf>,

    /// Sign through `walletops signer` at this URL, http://ADDR:PORT or unix:/PATH
    /// (this process then needs no master key)
    #[arg(long, env = "WALLETOPS_SIGNER", value_name = "URL")]
    pub signer: Option<Url>,

    /// The secret shared with the signer (a file of at least 32 random bytes)
    #[arg(long, env = "WALLETOPS_SIGNER_SECRET_FILE", value_name = "FILE")]
    pub signer_secret_file: Option<PathBuf>,
}

/// The signer these arguments describe; `what` names the process for errors.
pub async fn signer(settings: &Settings, args: &SigningArgs, what: &str) -> anyhow::Result<Signer> {
    if let Some(url) = &args.signer {
        let secret_file = args.signer_secret_file.as_ref().with_context(|| {
            format!(
                "{what} with --signer needs --signer-secret-file (or WALLETOPS_SIGNER_SECRET_FILE)"
            )
        })?;
        let secret = SharedSecret::from_file(secret_file)?;
        let remote = RemoteSigner::connect(url.clone(), secret)
            .await
            .with_context(|| format!("{what} cannot use the signer at {url}"))?;
        tracing::info!(%url, "signing through walletops signer");
        return Ok(Signer::Remote(remote));
    }
    let path = policy::resolve_path(args.policy.as_deref())?;
    let policy = Policy::load(&path).with_context(|| format!("{what} signs transfers"))?;
    let master = MasterKey::load(settings.master_key.as_ref())
        .with_context(|| format!("{what} needs the wallet master key"))?;
    tracing::info!(policy = %path.display(), "signing in process under the funds policy");
    Ok(Signer::Local(Core::new(master, policy)))
}
