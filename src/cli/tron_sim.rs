//! `walletops tron-sim`: the TRON simulator as a process, for the demo and
//! for trying the client by hand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::sim::{Devnet, SimConfig, Simulator, TokenSpec, dev_keys};
use crate::tron::{Address, Sun, TokenUnits};

/// What each test account of `--accounts` starts with on a new chain.
const ACCOUNT_TRX_SUN: u64 = 100_000_000_000;
const ACCOUNT_USDT_UNITS: u64 = 100_000_000_000;

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
    /// Test accounts to fund and print with their private keys at start
    /// (100,000 TRX and 100,000 USDT each on a new chain)
    #[arg(long, default_value_t = 0, value_name = "N")]
    accounts: usize,
    /// Seed the test accounts' keys derive from: the same seed gives the
    /// same accounts
    #[arg(long, default_value = "tron-sim", value_name = "TEXT")]
    seed: String,
    /// Keep the chain in FILE across restarts: loaded at start (a new chain
    /// if it does not exist), saved every few seconds and at Ctrl-C
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Seconds between saves of --state
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..), value_name = "N", requires = "state")]
    save_every_s: u64,
    /// Another TRC-20 token to serve, e.g. USDC:6 (repeatable); its
    /// contract address follows from the symbol and is printed at start
    #[arg(long = "token", value_name = "SYMBOL:DECIMALS")]
    tokens: Vec<TokenSpec>,
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
    let keys = dev_keys(&args.seed, args.accounts);
    let devnet = Devnet {
        accounts: keys
            .iter()
            .map(|k| (k.address(), ACCOUNT_TRX_SUN, ACCOUNT_USDT_UNITS))
            .collect(),
        state_file: args.state.clone(),
        save_interval: Duration::from_secs(args.save_every_s),
    };
    let sim = Simulator::spawn_devnet(config, devnet).await?;
    if let (Some(path), Some(head)) = (&args.state, sim.resumed_at()) {
        println!(
            "resumed the chain in {} at block {head} (test accounts are funded only on a new chain)",
            path.display()
        );
    }
    if !keys.is_empty() {
        println!(
            "test accounts (seed {:?}; {} and {} each on a new chain):",
            args.seed,
            Sun(ACCOUNT_TRX_SUN),
            TokenUnits(ACCOUNT_USDT_UNITS).usdt()
        );
        for (i, k) in keys.iter().enumerate() {
            println!(
                "  ({i}) {}  private key {}",
                k.address(),
                hex::encode(*k.to_bytes())
            );
        }
    }
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
    sim.save().await?;
    if let Some(path) = &args.state {
        println!("saved the chain to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
