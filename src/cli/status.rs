//! `walletops status [--json]`: health as an exit code (0 Healthy,
//! 1 Degraded, 2 Down, 3 unknown when it cannot tell).

use std::process::ExitCode;

use clap::Args;

use super::identity::print_json;
use crate::admin::stats;
use crate::config::Settings;
use crate::db::{self, PoolOptions};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the health, its figures and the queue's stats as one JSON object
    #[arg(long)]
    json: bool,
}

const UNKNOWN: u8 = 3;

pub async fn run(settings: &Settings, migrate: bool, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let result = async {
        let url = db::resolve_url(settings).await?;
        // One connection, reused by every query: a one-shot read should not
        // pay for a second connection (and TLS handshake) per query.
        let pool = db::connect(
            &url,
            PoolOptions {
                max_connections: 1,
                ..PoolOptions::default()
            },
        )
        .await?;
        if migrate {
            db::migrate(&pool).await?;
        }
        anyhow::Ok(stats::snapshot(&pool).await?)
    }
    .await;
    let stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            let error = db::one_line(e.as_ref());
            if args.json {
                print_json(&serde_json::json!({"status": "Unknown", "error": error}))?;
            } else {
                println!("Unknown: {error}");
            }
            return Ok(ExitCode::from(UNKNOWN));
        }
    };
    let status = stats.health.health.status;
    if args.json {
        print_json(&stats)?;
    } else {
        println!("{status:?}");
        for reason in &stats.health.health.reasons {
            println!("  - {reason}");
        }
        let c = &stats.counts.total;
        println!(
            "jobs: {} pending, {} processing, {} failed; live workers: {}",
            c.pending, c.processing, c.failed, stats.health.vitals.live_workers
        );
        // Kept elsewhere, the head lets `audit verify --head` detect a rewrite.
        if let Some(head) = &stats.health.vitals.audit.head {
            println!("audit head: {}:{}", head.seq, head.hash);
        }
    }
    Ok(ExitCode::from(status.exit_code()))
}
