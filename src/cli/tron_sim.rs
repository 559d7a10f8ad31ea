//! `walletops tron-sim`: the TRON simulator as a process, for the demo and
//! for trying the client by hand.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::sim::{SimConfig, Simulator, TokenSpec};
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
    /// Another TRC-20 token to serve, e.g. USDC:6 (repeatable); its
    /// contract address follows from the symbol and is printed at start
    #[arg(long = "token", value_name = "SYMBOL:DECIMALS")]
    tokens: Vec<TokenSpec>,
}

pub async fn run(args: TronSimArgs) -> anyhow::Result<ExitCode> {
    let mut config = SimConfig {
        listen: args.listen,
        block_interval: Duration::from_millis(args.block_ms),
        solidify_blocks: args.solidify_blocks,
        resource_window_blocks: args.resource_window_blocks,
        ..SimConfig::default()
    };
    if let Some(usdt) = args.usdt_contract {
        config.usdt_contract = usdt;
    }
    for (i, t) in args.tokens.iter().enumerate() {
        if args.tokens[..i].iter().any(|o| o.symbol == t.symbol) {
            anyhow::bail!(
                "--token {} is declared twice; give each symbol once",
                t.symbol
            );
        }
        if t.address == config.usdt_contract {
            anyhow::bail!(
                "--token {} would share the USDT contract's address",
                t.symbol
            );
        }
    }
    config.tokens = args.tokens;
    let usdt = config.usdt_contract;
    let tokens = config.tokens.clone();
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
    for t in &tokens {
        println!(
            "token {} ({} decimals) at {}",
            t.symbol, t.decimals, t.address
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(ExitCode::SUCCESS)
}
