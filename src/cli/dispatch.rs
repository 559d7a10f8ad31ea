//! `walletops dispatch --type T --wallet ADDRESS [--json]`.

use std::process::ExitCode;

use clap::Args;

use super::identity::print_json;
use crate::admin::JobType;
use crate::admin::jobs::{self, Dispatch};
use crate::admin::wallet_lookup::WalletRef;
use crate::config::Settings;
use crate::tron::Address;

#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Job type: sync, consolidation or gas-topup
    #[arg(long = "type", value_name = "T")]
    job_type: JobType,
    /// The wallet's base58 address
    #[arg(long, value_name = "ADDRESS")]
    wallet: Address,
    /// Print the job as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    args: DispatchArgs,
) -> anyhow::Result<ExitCode> {
    let pool = super::db::connect(settings, migrate).await?;
    let identity = super::identity::operator(settings, &pool).await?;
    let done = jobs::dispatch(
        &pool,
        &identity,
        &Dispatch {
            wallet: WalletRef::Address(args.wallet),
            user_id: None,
            job_type: args.job_type,
        },
    )
    .await?;
    if args.json {
        print_json(&done)?;
    } else if done.created {
        println!(
            "queued {} job {} for {}",
            args.job_type, done.job.id, done.wallet.address
        );
    } else {
        println!(
            "{} already has a {} job in progress: {}",
            done.wallet.address, args.job_type, done.job.id
        );
    }
    Ok(ExitCode::SUCCESS)
}
