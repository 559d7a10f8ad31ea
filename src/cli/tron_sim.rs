//! `walletops tron-sim`: the TRON simulator as a process, for the demo and
//! for trying the client by hand.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::sim::{SimConfig, Simulator};
use crate::tron::Address;

#[derive(Debug, Args)]
pub struct TronSimArgs {
    /// Address to serve the API on
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    listen: SocketAddr,
    /// Milliseconds between blocks (mainnet: 3000)
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    block_ms: u64,
    /// Blocks on top before a block is solidified (mainnet: 19)
    #[arg(long, default_value_t = 19, value_name = "N")]
    solidify_blocks: u64,
    /// Blocks over which used energy and bandwidth recover (mainnet: 28800,
    /// 24 hours); fewer lets tests and demos see recovery in seconds
    #[arg(long, default_value_t = 28_800, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    resource_window_blocks: u64,
    /// The USDT contract address [default: mainnet TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t]
    #[arg(long, value_name = "ADDRESS")]
    usdt_contract: Option<Address>,
    /// Keep only the newest N blocks (at least up to the solidified head),
    /// as a node with pruned history; older ones answer `{}`. Bounds memory
    /// under heavy load [default: keep all]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    keep_blocks: Option<u64>,
}

pub async fn run(args: TronSimArgs) -> anyhow::Result<ExitCode> {
    let mut config = SimConfig {
        listen: args.listen,
        block_interval: Duration::from_millis(args.block_ms),
        solidify_blocks: args.solidify_blocks,
        resource_window_blocks: args.resource_window_blocks,
        keep_blocks: args.keep_blocks,
        ..SimConfig::default()
    };
    if let Some(usdt) = args.usdt_contract {
        config.usdt_contract = usdt;
    }
    let usdt = config.usdt_contract;
    let sim = Simulator::spawn(config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "tron-sim listening on {} (USDT {usdt}, {} ms blocks, solidified after {} blocks, resources recover over {} blocks); Ctrl-C stops it",
        sim.url(),
        args.block_ms,
        args.solidify_blocks,
        args.resource_window_blocks
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(ExitCode::SUCCESS)
}
