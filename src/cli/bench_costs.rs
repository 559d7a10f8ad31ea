//! `walletops bench costs --wallets N`: what a sweep burns, in `burn` and
//! in `delegate` mode, on the in-process simulator and the real jobs.
//!
//! On a database of its own (a fresh deployment: the bench bootstraps the
//! gas, treasury and energy wallets as the database owner, and refuses a
//! database that has them), it funds N new deposit wallets with USDT and
//! sweeps them with embedded workers in `burn` mode, then funds the same
//! wallets again, stakes the energy wallet's TRX for energy (and for the
//! bandwidth of one delegation and reclaim per wallet, as a custodian's
//! pool would) and sweeps them in `delegate` mode. Each round's TRX burned per sweep comes from the
//! transfer records' receipts (`walletops costs`), one-time activations
//! left out. Every USDT unit must arrive at the treasury. One JSON line:
//! `{"wallets":N,"burn_sun_per_sweep":..,"delegate_sun_per_sweep":..,
//! "ratio":..,"delegation_sun_per_sweep":..,"usdt_swept":..,
//! "usdt_at_treasury":..}` (and each round's activations, left out).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::demo::{fund, new_key};
use crate::admin::{self, Identity, Role};
use crate::config::Settings;
use crate::db::{self, PoolOptions};
use crate::engine::{Engine, EngineOptions, Registry, register_wallet_jobs};
use crate::jobs::Context;
use crate::policy::Policy;
use crate::queue::{self, JobStatus, JobType, NewJob};
use crate::signer::{Core, Signer};
use crate::sim::{SimConfig, SimHandle, Simulator};
use crate::transfers::costs::{self, CostTotals};
use crate::tron::client::{ClientConfig, TronClient};
use crate::tron::tx::{Resource, delegation_pair_bytes};
use crate::tron::{Address, MAINNET_USDT, Sun, TokenUnits};
use crate::wallets::{MasterKey, WalletRole};

const TRX: u64 = 1_000_000;
/// USDT funded to each deposit wallet per round.
const DEPOSIT_USDT: u64 = 100_000_000;
/// Staked TRX per wallet: one delegation for a sweep of about 71,500
/// energy at the simulator's network figures takes about 7,550 TRX, and
/// all wallets may borrow at once.
const STAKE_PER_WALLET: u64 = 8_000 * TRX;
/// TRX funded per wallet for the pool's bandwidth stake: one delegation and
/// its reclaim (under 700 bytes) take about 420 TRX of bandwidth stake at
/// the simulator's network figures.
const BANDWIDTH_FUNDS_PER_WALLET: u64 = 1_000 * TRX;
/// The simulator's 24-hour resource window, in blocks: the bench waits one
/// between the rounds, as a day passes between two sweeps of one wallet
/// (its free bandwidth, 600 a day, covers one USDT transfer).
const WINDOW_BLOCKS: u64 = 50;
/// The bench's operator (the database owner's login acts as it).
const BENCH_ADMIN: &str = "bench-admin@example.com";

#[derive(Debug, Args)]
pub struct CostsBenchArgs {
    /// Deposit wallets swept in each mode
    /// (at most 11: the policy's daily stake cap, 100,000 TRX, bounds the
    /// pool's energy and bandwidth stake)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=11))]
    pub wallets: u32,
    /// Simulated block time in milliseconds
    #[arg(long, default_value_t = 100, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(20..=3000))]
    pub block_ms: u64,
    /// Most seconds one round may take
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..))]
    pub timeout: u64,
}

/// What one round's sweeps cost.
struct Round {
    totals: CostTotals,
}

impl Round {
    /// TRX burned per sweep, activations left out.
    fn per_sweep(&self) -> anyhow::Result<Sun> {
        self.totals
            .burned_per_sweep()
            .context("a round mined no sweep")
    }
}

pub async fn run(
    settings: &Settings,
    migrate: bool,
    args: CostsBenchArgs,
) -> anyhow::Result<ExitCode> {
    crate::tron::client::install_crypto_provider();
    let url = db::resolve_url(settings).await?;
    let pool = db::connect(&url, PoolOptions::default()).await?;
    if migrate {
        db::migrate(&pool).await?;
    }
    super::bench::refuse_busy_database(&pool).await?;

    let sim = Simulator::spawn(SimConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        block_interval: Duration::from_millis(args.block_ms),
        solidify_blocks: 2,
        resource_window_blocks: WINDOW_BLOCKS,
        ..SimConfig::default()
    })
    .await
    .context("cannot start the TRON simulator")?;
    let usdt: Address = MAINNET_USDT
        .parse()
        .expect("the mainnet USDT address parses");
    let master = random_master()?;
    let admin = bench_admin(&pool).await?;
    let n = u64::from(args.wallets);
    let (gas, treasury, energy) = bootstrap(&pool, &master, &sim, n).await?;
    let policy = Policy::parse(&policy_text(treasury, gas, energy, usdt))
        .context("the bench's funds policy is invalid")?;

    let mut deposits = Vec::new();
    for i in 0..n {
        let imported = admin::wallets::import(
            &pool,
            &master,
            &format!("bench-depositor-{i}@example.com"),
            WalletRole::Deposit,
            &new_key()?,
        )
        .await?;
        deposits.push(imported.wallet);
    }

    let mut tron = ClientConfig::new(sim.url().clone());
    tron.requests_per_second = None;
    let tron = TronClient::new(tron).context("cannot build the TRON client")?;
    let mut ctx = Context::new(
        pool.clone(),
        tron.clone(),
        Signer::Local(Core::new(master, policy)),
    );
    ctx.poll = Duration::from_millis(args.block_ms);
    let ctx = Arc::new(ctx);
    let mut registry = Registry::new();
    register_wallet_jobs(&mut registry, ctx.clone());
    let engine = Engine::new(
        pool.clone(),
        registry,
        EngineOptions::new((args.wallets as usize).clamp(1, 16)),
    );
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let engine_task = tokio::spawn(engine.run(async move {
        let _ = stop_rx.await;
    }));

    let timeout = Duration::from_secs(args.timeout);
    let rounds = async {
        let burn = round(&pool, &admin, &sim, &deposits, "burn", timeout).await?;
        tokio::time::sleep(Duration::from_millis(args.block_ms * (WINDOW_BLOCKS + 2))).await;
        crate::jobs::energy::stake(&ctx, Sun(n * STAKE_PER_WALLET), Resource::Energy, None)
            .await
            .context("cannot stake the energy wallet's TRX for energy")?;
        // As a custodian would: the pool's delegations and reclaims use
        // staked bandwidth instead of burning TRX for it.
        let bandwidth = bandwidth_stake(&tron, energy, n).await?;
        crate::jobs::energy::stake(&ctx, bandwidth, Resource::Bandwidth, None)
            .await
            .context("cannot stake the energy wallet's TRX for bandwidth")?;
        let delegate = round(&pool, &admin, &sim, &deposits, "delegate", timeout).await?;
        anyhow::Ok((burn, delegate))
    }
    .await;
    let _ = stop_tx.send(());
    engine_task.await.context("the engine task failed")?;
    let (burn, delegate) = rounds?;

    let swept = 2 * n * DEPOSIT_USDT;
    let arrived = tron.trc20_balance(&usdt, &treasury).await?;
    let (burn_per, delegate_per) = (burn.per_sweep()?, delegate.per_sweep()?);
    let line = json!({
        "wallets": n,
        "burn_sun_per_sweep": burn_per.0,
        "delegate_sun_per_sweep": delegate_per.0,
        "ratio": round4(delegate_per.0 as f64 / burn_per.0.max(1) as f64),
        // Of delegate mode's figure, what the pool's delegate and reclaim
        // transactions burned (bandwidth, once its free allowance is spent).
        "delegation_sun_per_sweep": delegate.totals.delegation_burned.0 / delegate.totals.sweeps.max(1),
        "burn_activation_sun": burn.totals.activation_fee.0,
        "delegate_activation_sun": delegate.totals.activation_fee.0,
        "usdt_swept": swept,
        "usdt_at_treasury": arrived.0,
    });
    println!("{line}");
    if arrived != TokenUnits(swept) {
        bail!(
            "the treasury holds {arrived} but {} were swept",
            TokenUnits(swept)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stake that gives the pool bandwidth for one delegation and reclaim per
/// wallet a day (see [`delegation_pair_bytes`]), at the node's figures now.
async fn bandwidth_stake(tron: &TronClient, pool: Address, n: u64) -> anyhow::Result<Sun> {
    let bytes = n * delegation_pair_bytes(pool);
    let stake = tron
        .get_account_resource(&pool)
        .await?
        .stake_for_bandwidth(bytes)
        .context("the node reports no network bandwidth to stake for")?;
    Ok(stake.max(crate::jobs::energy::MIN_STAKE))
}

/// A fresh master key for the bench's wallets (they live only as long as
/// its database).
pub(super) fn random_master() -> anyhow::Result<MasterKey> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(MasterKey::from_hex(
        &zeroize::Zeroizing::new(hex::encode(bytes.as_ref())),
        "the bench's random master key",
    )?)
}

/// The database owner's login as the bench's admin.
pub(super) async fn bench_admin(pool: &PgPool) -> anyhow::Result<Identity> {
    let owner: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(pool)
        .await?;
    admin::operators::add(pool, BENCH_ADMIN, Role::Admin, Some(&owner)).await?;
    Ok(admin::identity::resolve_login(pool).await?)
}

/// The gas, treasury and energy wallets of a fresh deployment, funded, and
/// the switches that name them. Refused on a database that has them.
async fn bootstrap(
    pool: &PgPool,
    master: &MasterKey,
    sim: &SimHandle,
    n: u64,
) -> anyhow::Result<(Address, Address, Address)> {
    let http = reqwest::Client::new();
    let mut made = Vec::new();
    for (email, role, trx) in [
        ("bench-gas@example.com", WalletRole::Gas, 1_000_000 * TRX),
        ("bench-treasury@example.com", WalletRole::Treasury, TRX),
        (
            "bench-energy@example.com",
            WalletRole::Energy,
            n * (STAKE_PER_WALLET + BANDWIDTH_FUNDS_PER_WALLET) + 1_000 * TRX,
        ),
    ] {
        let address = admin::wallets::bootstrap(pool, master, email, role, &new_key()?)
            .await
            .context("the bench needs a database of its own (a fresh deployment)")?
            .address;
        fund(&http, sim, &address.to_string(), trx as i64, 0).await?;
        made.push(address);
    }
    let [gas, treasury, energy] = made[..] else {
        unreachable!("three wallets")
    };
    for (key, value) in [
        ("gas.wallet_address", json!(gas)),
        ("consolidation.treasury_address", json!(treasury)),
        ("energy.wallet_address", json!(energy)),
    ] {
        admin::proposals::bootstrap(pool, key, value)
            .await
            .with_context(|| format!("cannot set {key}"))?;
    }
    Ok((gas, treasury, energy))
}

/// The starting policy with the energy wallet named, its kinds allowed and
/// its caps in force.
fn policy_text(treasury: Address, gas: Address, energy: Address, usdt: Address) -> String {
    Policy::starting_text(treasury, gas, usdt)
        .replace(
            "energy_wallets = []",
            &format!("energy_wallets = [\"{energy}\"]"),
        )
        .replace(
            r#""gas-topup"]"#,
            r#""gas-topup", "energy-stake", "energy-delegate", "energy-reclaim"]"#,
        )
        .split_inclusive('\n')
        .scan(false, |caps, l| {
            // The energy caps are the commented lines after this one.
            let line = if *caps {
                l.strip_prefix("# ").unwrap_or(l)
            } else {
                l
            };
            *caps |= l.contains("uncomment them to use it");
            Some(line.to_string())
        })
        .collect()
}

/// Funds every deposit wallet with USDT and sweeps them all in `mode`;
/// what the round's transfers cost.
async fn round(
    pool: &PgPool,
    admin: &Identity,
    sim: &SimHandle,
    deposits: &[crate::wallets::ImportedWallet],
    mode: &str,
    timeout: Duration,
) -> anyhow::Result<Round> {
    admin::config::set(pool, admin, "gas.mode", json!(mode)).await?;
    let today = chrono::Utc::now().date_naive();
    let before = costs::report(pool, today).await?.total;
    let http = reqwest::Client::new();
    let mut jobs: Vec<Uuid> = Vec::new();
    let mut conn = pool.acquire().await?;
    for d in deposits {
        fund(&http, sim, &d.address.to_string(), 0, DEPOSIT_USDT as i64).await?;
        let job = NewJob {
            wallet_address: Some(d.address.to_string()),
            wallet_id: Some(d.wallet_id),
            user_id: Some(d.user_id),
            ..NewJob::new(JobType::Consolidation)
        };
        jobs.push(queue::enqueue(&mut conn, &job).await?.job.id);
    }
    let deadline = Instant::now() + timeout;
    for id in jobs {
        loop {
            let job = queue::get(&mut conn, id).await?;
            match job.status {
                Some(JobStatus::Completed) => break,
                Some(JobStatus::Failed | JobStatus::Cancelled) => bail!(
                    "{mode} round: sweep job {id} ended {}: {}",
                    job.status.map_or_else(|| "?".into(), |s| s.to_string()),
                    job.error_message.unwrap_or_default()
                ),
                _ if Instant::now() > deadline => bail!(
                    "{mode} round: sweep job {id} not done in {} s: {}",
                    timeout.as_secs(),
                    job.error_message.unwrap_or_default()
                ),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let after = costs::report(pool, today).await?.total;
    Ok(Round {
        totals: after.since(&before),
    })
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
