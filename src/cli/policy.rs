//! `walletops policy init|check`: write a starting funds policy, or
//! validate one and say in words what it allows.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::policy::{self, Policy};
use crate::tron::Address;
use crate::tron::MAINNET_USDT;

#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Write a starting policy with conservative caps (never overwrites)
    Init {
        /// Where sweeps may go
        #[arg(long, value_name = "ADDR")]
        treasury: Address,
        /// The wallet that may pay gas top-ups
        #[arg(long, value_name = "ADDR")]
        gas: Address,
        /// The USDT contract [default: mainnet USDT]
        #[arg(long, value_name = "ADDR")]
        usdt: Option<Address>,
        /// Where to write it [default: WALLETOPS_POLICY, else $XDG_CONFIG_HOME/walletops/policy.toml]
        #[arg(long, env = "WALLETOPS_POLICY", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Validate a policy and print what it allows
    Check {
        /// The policy [default: WALLETOPS_POLICY, else $XDG_CONFIG_HOME/walletops/policy.toml]
        #[arg(env = "WALLETOPS_POLICY", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

pub fn run(action: PolicyAction) -> anyhow::Result<ExitCode> {
    match action {
        PolicyAction::Init {
            treasury,
            gas,
            usdt,
            out,
        } => {
            let usdt = usdt.unwrap_or_else(|| MAINNET_USDT.parse().expect("valid constant"));
            let text = Policy::starting_text(treasury, gas, usdt);
            Policy::parse(&text).context("cannot write this policy")?;
            let path = policy::resolve_path(out.as_deref())?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
                .with_context(|| {
                    format!(
                        "cannot create {} (an existing policy is never overwritten)",
                        path.display()
                    )
                })?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("funds policy written to {}", path.display());
            println!(
                "review its caps, then: walletops policy check {}",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyAction::Check { file } => {
            let path = policy::resolve_path(file.as_deref())?;
            let policy = Policy::load(&path)?;
            println!("{}: valid", path.display());
            print!("{}", policy.describe());
            Ok(ExitCode::SUCCESS)
        }
    }
}
