//! `walletops energy stake AMOUNT` and `walletops energy status [--json]`:
//! the energy pool that lends sweeps their energy (gas.mode delegate or
//! auto).
//!
//! A stake is signed like every transfer (the local master key and funds
//! policy, or `--signer URL`), so it runs where the workers run, with their
//! database login (it reads the pool's sealed key and writes its transfer
//! record); the admin it is done for is proven by an API token
//! (`--token-file` or `WALLETOPS_TOKEN`), or by the login itself being an
//! admin operator's, and the database writes the audit row in the record's
//! transaction.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;

use super::identity::print_json;
use super::signing::SigningArgs;
use super::table::{Fit, Table};
use super::wiring::{ChainArgs, wallet_jobs};
use crate::admin::energy::{self, EnergyStatus};
use crate::config::Settings;
use crate::jobs::energy::{Staked, stake};
use crate::jobs::{Context, CrashStep};
use crate::transfers::TransferStatus;
use crate::tron::Sun;
use crate::tron::client::{ClientConfig, TronClient};
use crate::tron::tx::Resource;

#[derive(Debug, Subcommand)]
pub enum EnergyAction {
    /// Stake AMOUNT TRX of the energy wallet for energy (an admin's action;
    /// run where the workers run)
    Stake {
        /// TRX to stake, e.g. 5000 or 0.5 (at least 1, the node's minimum)
        #[arg(value_parser = |s: &str| Sun::parse_trx(s))]
        amount: Sun,
        /// What the stake gives: energy to lend to sweeps, or bandwidth for
        /// the pool's own delegations and reclaims (else they burn TRX once
        /// its free bandwidth is spent)
        #[arg(long, default_value = "energy", value_name = "energy|bandwidth",
              value_parser = |s: &str| s.to_ascii_uppercase().parse::<Resource>().map_err(|_| format!("{s:?} is neither energy nor bandwidth")))]
        resource: Resource,
        /// The admin's API token file (mode 600) [default: the
        /// WALLETOPS_TOKEN environment variable; none: the database login
        /// must be an admin operator's]
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Print the outcome as one JSON object
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        chain: ChainArgs,
        /// Tests only: kill this process with SIGKILL at STEP
        #[arg(long, hide = true, value_name = "STEP")]
        test_crash_at: Option<CrashStep>,
    },
    /// Staked TRX, energy, what is lent out and since when, and how many
    /// sweeps the energy left covers
    Status {
        /// Print the status as one JSON object
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: EnergyAction,
) -> anyhow::Result<ExitCode> {
    match action {
        EnergyAction::Stake {
            amount,
            resource,
            token_file,
            json,
            signing,
            chain,
            test_crash_at,
        } => {
            let token = match (&token_file, std::env::var(super::console_api::TOKEN_ENV)) {
                (None, Err(_)) => None,
                _ => Some(super::console_api::read_token(token_file.as_deref())?),
            };
            let pool = super::db::connect(settings, migrate).await?;
            let jobs = wallet_jobs(settings, &chain, &signing, "energy stake").await?;
            let mut ctx = Context::new(pool, jobs.tron, jobs.signer);
            ctx.poll = jobs.poll;
            ctx.wait = Duration::from_secs(90);
            ctx.crash_at = test_crash_at;
            let staked = stake(&ctx, amount, resource, token.as_ref().map(|t| t.expose()))
                .await
                .context("energy stake")?;
            if json {
                print_json(&staked)?;
            } else {
                println!("{}", describe(&staked));
            }
            Ok(match staked.status {
                TransferStatus::Confirmed if !staked.earlier => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            })
        }
        EnergyAction::Status { json } => {
            let pool = super::db::connect(settings, migrate).await?;
            let config = ClientConfig::from_settings(settings).context(
                "energy status reads the chain: set TRON_API_URL (and TRON_API_KEY for \
                 TronGrid) or [tron] api_url in the config file",
            )?;
            let tron = TronClient::new(config).context("cannot build the TRON client")?;
            let status = energy::status(&pool, &tron).await?;
            if json {
                print_json(&status)?;
            } else {
                print_status(&status, Fit::detect(false));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One line for people.
fn describe(s: &Staked) -> String {
    let amount = Sun(s.amount_sun.max(0) as u64);
    let what = format!(
        "stake of {amount} by energy wallet {} (tx {})",
        s.energy_wallet, s.tx_id
    );
    let outcome = match s.status {
        TransferStatus::Confirmed => "confirmed",
        TransferStatus::Expired => "expired without landing: nothing was staked",
        TransferStatus::Failed => "failed on chain",
        TransferStatus::Signed | TransferStatus::Broadcast => {
            "still on its way: run the command again to follow it"
        }
    };
    if s.earlier {
        format!(
            "an earlier {what} was left unresolved; it is {outcome}. Nothing new was staked: \
             run the command again to stake more"
        )
    } else {
        format!("{what}: {outcome}")
    }
}

fn print_status(s: &EnergyStatus, fit: Fit) {
    println!("energy wallet   {}", s.energy_wallet);
    println!("staked          {}", Sun(s.staked_sun));
    println!(
        "energy          {} available of {} (used {})",
        s.energy_available, s.energy_limit, s.energy_used
    );
    println!(
        "lent out        {} to {} wallets; {} more can be lent now",
        Sun(s.delegated_out_sun),
        s.delegations.len(),
        Sun(s.can_delegate_sun)
    );
    println!(
        "sweeps covered  {} at {} energy each ({})",
        s.sweeps_covered,
        s.sweep_energy,
        if s.sweep_energy_measured {
            "recent sweeps plus energy.margin_percent"
        } else {
            "no sweep yet: an assumed figure plus energy.margin_percent"
        }
    );
    println!(
        "bandwidth       {} staked; {} bytes left today (staked and free) cover {} \
         delegate+reclaim pairs of {} bytes",
        Sun(s.staked_bandwidth_sun),
        s.bandwidth_available,
        s.pairs_covered,
        s.pair_bytes
    );
    if s.delegations.is_empty() {
        return;
    }
    let mut t = Table::new(fit)
        .key("RECEIVER")
        .number("LENT")
        .column("SINCE")
        .number("AGE (S)");
    for d in &s.delegations {
        t.row([
            d.receiver.clone(),
            Sun(d.sun).to_string(),
            d.since.map_or("-".into(), |at| at.to_rfc3339()),
            d.age_seconds.map_or("-".into(), |a| a.to_string()),
        ]);
    }
    t.print();
}
