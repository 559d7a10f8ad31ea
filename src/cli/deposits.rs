//! `walletops deposits status|pending|rescan`: the chain follower (issue
//! 16, `jobs::follower`) as operators see and steer it.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::identity::print_json;
use super::wiring::ChainArgs;
use crate::admin::stats;
use crate::config::Settings;
use crate::jobs;
use crate::tron::client::View;
use crate::wallets::deposits::FollowerState;

#[derive(Debug, Subcommand)]
pub enum DepositsAction {
    /// Where the follower is: its block, lag, a gap it could not read
    Status {
        /// Print it as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Deposits seen in blocks not yet solidified (deposits.show_unconfirmed)
    Pending {
        /// Print them as JSON
        #[arg(long)]
        json: bool,
    },
    /// Read solidified blocks again and record what the follower missed
    /// (a gap the node could not serve, or history before the follower
    /// started); safe while the follower runs
    Rescan {
        /// First block to read
        #[arg(long, value_name = "BLOCK")]
        from: u64,
        /// Last block to read [default: the solidified head]
        #[arg(long, value_name = "BLOCK")]
        to: Option<u64>,
        #[command(flatten)]
        chain: ChainArgs,
    },
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    action: DepositsAction,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    match action {
        DepositsAction::Status { json } => {
            let state = stats::deposits(&pool).await?;
            if json {
                print_json(&state)?;
            } else {
                println!("{}", summary(&state));
                if let Some(gap) = &state.gap {
                    println!("  {gap}");
                }
                if let Some(missed) = &state.missed_recently {
                    println!("  {missed}");
                }
            }
        }
        DepositsAction::Pending { json } => {
            let pending = stats::pending_deposits(&pool).await?;
            if json {
                print_json(&pending)?;
            } else if pending.is_empty() {
                println!("no unconfirmed deposits shown");
            } else {
                for p in &pending {
                    println!(
                        "block {} {} {} {} {} wallet {}",
                        p.block_number,
                        p.tx_id,
                        p.direction,
                        p.asset
                            .parse::<crate::admin::Asset>()
                            .map_or_else(|_| p.amount.to_string(), |a| a.format(p.amount)),
                        p.block_hash,
                        p.wallet_id
                    );
                }
            }
        }
        DepositsAction::Rescan { from, to, chain } => {
            if let Some(to) = to
                && from > to
            {
                anyhow::bail!("--from {from} is after --to {to}: nothing to read");
            }
            let tron = super::wiring::tron_client(settings, &chain, "walletops deposits rescan")?;
            let solid = tron
                .block(View::Solidified)
                .await
                .context("cannot read the solidified head")?
                .number;
            let to = to.unwrap_or(solid);
            if from > to {
                anyhow::bail!("--from {from} is after the solidified head {to}: nothing to read");
            }
            if to > solid {
                anyhow::bail!(
                    "block {to} is not solidified yet (the solidified head is {solid}); \
                     give a --to of at most {solid}"
                );
            }
            let done = jobs::follower::rescan(&pool, &tron, from, to).await?;
            println!(
                "read blocks {from}..={to}: {} block(s), {} new transaction row(s)",
                done.blocks, done.rows
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line: who follows, how far, how far behind.
pub fn summary(d: &FollowerState) -> String {
    let who = if d.following {
        "following"
    } else {
        "not following (no worker holds the lease)"
    };
    match d.block_number {
        None => format!("deposits: {who}; no block recorded yet"),
        Some(block) => format!(
            "deposits: {who}; block {block}, {} behind the solidified head, {} since its time{}",
            d.lag_blocks
                .map_or("? blocks".to_string(), |b| format!("{b} blocks")),
            d.lag_seconds.map_or("?".to_string(), |s| format!("{s} s")),
            if d.pending > 0 {
                format!("; {} unconfirmed shown", d.pending)
            } else {
                String::new()
            }
        ),
    }
}
