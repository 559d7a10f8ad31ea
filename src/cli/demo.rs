//! `walletops demo` (and `walletops` with no database configured): a whole
//! walletops on this machine with nothing to set up. It starts the local
//! PostgreSQL cluster and uses a database of its own in it
//! ([`DEMO_DATABASE`], reset at every start, so demo data never mixes with
//! real data), runs the TRON simulator in-process with fast blocks, seeds a
//! gas wallet, a treasury and deposit wallets holding USDT, turns on
//! periodic sync, funds random deposit wallets every few seconds so that
//! jobs keep flowing, and opens the console as a demo admin with embedded
//! workers, marked DEMO.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::console::{ConsoleArgs, Session};
use super::wiring::WalletJobs;
use crate::admin::{self, Identity, Role};
use crate::config::{MasterKeySource, Settings};
use crate::db::{self, PoolOptions, local};
use crate::policy::Policy;
use crate::signer::{Core, Signer};
use crate::sim::{SimConfig, SimHandle, Simulator};
use crate::tron::client::{ClientConfig, TronClient};
use crate::tron::{Address, MAINNET_USDT, PrivateKey};
use crate::wallets::{MasterKey, WalletRole};

/// The demo's own database in the local cluster.
pub use crate::db::local::DEMO_DATABASE;
/// The operator the demo console acts as.
pub const DEMO_ADMIN: &str = "demo-admin@example.com";
/// Owners of the seeded deposit wallets.
const DEPOSITORS: [&str; 6] = [
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
    "erin@example.com",
    "frank@example.com",
];
/// USDT has 6 decimals.
const USDT: i64 = 1_000_000;
/// TRX in SUN.
const TRX: i64 = 1_000_000;

#[derive(Debug, Parser)]
#[command(name = "demo")]
pub struct DemoArgs {
    /// Simulated block time in milliseconds
    #[arg(long, default_value_t = 500, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(100..=10_000))]
    pub block_ms: u64,

    /// Workers running inside the console
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,

    /// Seconds between simulated deposits (0: none)
    #[arg(long, default_value_t = 4, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub deposit_every: u64,
}

pub async fn run(
    settings: &Settings,
    args: DemoArgs,
    log_filter: &str,
) -> anyhow::Result<ExitCode> {
    let cluster = local::Cluster::locate()?;
    println!(
        "demo: starting the local database in {}",
        cluster.root().display()
    );
    cluster.ensure_running().await?;
    cluster.reset_database(DEMO_DATABASE).await?;
    let url = cluster.url_for(DEMO_DATABASE);
    let pool = db::connect(&url, PoolOptions::default()).await?;
    db::migrate(&pool).await?;

    let sim = Simulator::spawn(SimConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        block_interval: Duration::from_millis(args.block_ms),
        solidify_blocks: 2,
        ..SimConfig::default()
    })
    .await
    .context("cannot start the TRON simulator")?;
    let key_file = master_key_file(cluster.root())?;
    let master = MasterKey::load(Some(&MasterKeySource::File(key_file.clone())))?;

    // The demo connects as the database owner: that login acts as the demo admin.
    let owner: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(&pool)
        .await?;
    admin::operators::add(&pool, DEMO_ADMIN, Role::Admin, Some(&owner)).await?;
    let admin = admin::identity::resolve_login(&pool).await?;
    let (deposits, treasury, gas) = seed(&pool, &master, &admin, &sim).await?;
    let policy_file = key_file.with_file_name("policy.toml");
    let policy = write_policy(&policy_file, treasury, gas)?;
    println!(
        "demo: database {DEMO_DATABASE} (reset at every start), TRON simulator at {}, \
         master key {}, funds policy {}",
        sim.url(),
        key_file.display(),
        policy_file.display()
    );
    let funder = spawn_deposits(&sim, deposits, Duration::from_secs(args.deposit_every));

    let mut tron = ClientConfig::new(sim.url().clone());
    tron.requests_per_second = None;
    let session = Session {
        pool,
        waiting: false,
        operator: Some(DEMO_ADMIN.to_string()),
        embedded: Some((
            args.workers,
            WalletJobs {
                tron: TronClient::new(tron).context("cannot build the TRON client")?,
                signer: Signer::Local(Core::new(master, policy)),
                // A block is short here: look at the chain every block.
                poll: Duration::from_millis(args.block_ms),
                crash_at: None,
            },
        )),
        demo: true,
    };
    let result = session
        .run(settings, &ConsoleArgs::default(), log_filter)
        .await;
    if let Some(funder) = funder {
        funder.abort();
    }
    drop(sim);
    println!("demo: the local database keeps running; `walletops db stop` stops it");
    result
}

/// The demo's master key, created once (mode 0600) beside the cluster's
/// data; the database is reset at each start, so any key would do, but
/// keeping one spares a new secret file per run.
fn master_key_file(data_root: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_root.join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))?;
    let path = dir.join("master.key");
    if path.exists() {
        return Ok(path);
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let text = Zeroizing::new(hex::encode(bytes.as_ref()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The demo's funds policy, rewritten at every start (the demo's treasury
/// and gas wallet are new each time) beside its master key.
fn write_policy(path: &Path, treasury: Address, gas: Address) -> anyhow::Result<Policy> {
    let usdt: Address = MAINNET_USDT
        .parse()
        .expect("the mainnet USDT address parses");
    let text = Policy::starting_text(treasury, gas, usdt);
    let policy = Policy::parse(&text).context("the demo's starting policy is invalid")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(policy)
}

/// A fresh random key.
pub(super) fn new_key() -> anyhow::Result<PrivateKey> {
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        // Out of range (zero or above the curve order) is astronomically rare: draw again.
        if let Ok(key) = PrivateKey::from_bytes(&bytes) {
            return Ok(key);
        }
    }
}

/// Creates the gas wallet, the treasury and the deposit wallets with their
/// keys, funds them on the simulator, and sets the switches the jobs need
/// (the payout addresses as the database owner, the rest as the demo admin,
/// so the audit trail shows the setup). Returns the deposit addresses, the
/// treasury and the gas wallet.
async fn seed(
    pool: &PgPool,
    master: &MasterKey,
    admin: &Identity,
    sim: &SimHandle,
) -> anyhow::Result<(Vec<String>, Address, Address)> {
    crate::tron::client::install_crypto_provider();
    let http = reqwest::Client::new();
    // A fresh deployment's first gas and treasury wallets come from the
    // owner, active at once; later ones wait for a second admin.
    let gas_address = admin::wallets::bootstrap(
        pool,
        master,
        "ops@example.com",
        WalletRole::Gas,
        &new_key()?,
    )
    .await?
    .address;
    let gas = gas_address.to_string();
    fund(&http, sim, &gas, 20_000 * TRX, 0).await?;
    let treasury_address = admin::wallets::bootstrap(
        pool,
        master,
        "treasury@example.com",
        WalletRole::Treasury,
        &new_key()?,
    )
    .await?
    .address;
    let treasury = treasury_address.to_string();
    fund(&http, sim, &treasury, 10 * TRX, 0).await?;

    let mut deposits = Vec::new();
    for (i, email) in DEPOSITORS.iter().enumerate() {
        let address = admin::wallets::import(pool, master, email, WalletRole::Deposit, &new_key()?)
            .await?
            .wallet
            .address
            .to_string();
        fund(&http, sim, &address, 0, (100 + 150 * i as i64) * USDT).await?;
        deposits.push(address);
    }

    // The payout addresses move money: a fresh database gets its first ones
    // from the owner; after that only two admins and a delay change them.
    for (key, value) in [
        ("gas.wallet_address", json!(gas)),
        ("consolidation.treasury_address", json!(treasury)),
    ] {
        admin::proposals::bootstrap(pool, key, value)
            .await
            .with_context(|| format!("cannot set {key}"))?;
    }
    admin::config::set(pool, admin, "sync.interval_seconds", json!(15))
        .await
        .context("cannot set sync.interval_seconds")?;
    Ok((deposits, treasury_address, gas_address))
}

/// Adds to an account's balances on the simulator (`POST /sim/fund`).
pub(super) async fn fund(
    http: &reqwest::Client,
    sim: &SimHandle,
    address: &str,
    trx_sun: i64,
    usdt: i64,
) -> anyhow::Result<()> {
    let url = sim.url().join("sim/fund")?;
    let body: Value = json!({"address": address, "trx_sun": trx_sun, "usdt": usdt});
    http.post(url)
        .json(&body)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("the simulator did not fund {address}"))?;
    Ok(())
}

/// Every `every`, a deposit of 5 to 50 USDT lands on a random deposit
/// wallet; the periodic sync then finds it. `None` when `every` is zero.
fn spawn_deposits(
    sim: &SimHandle,
    deposits: Vec<String>,
    every: Duration,
) -> Option<JoinHandle<()>> {
    if every.is_zero() || deposits.is_empty() {
        return None;
    }
    let sim_url = sim.url().clone();
    Some(tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let address = &deposits[fastrand::usize(..deposits.len())];
            let usdt = fastrand::i64(5..=50) * USDT;
            let Ok(url) = sim_url.join("sim/fund") else {
                return;
            };
            let sent = http
                .post(url)
                .json(&json!({"address": address, "trx_sun": 0, "usdt": usdt}))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            match sent {
                Ok(_) => tracing::info!(address, usdt, "demo: simulated deposit"),
                Err(e) => tracing::warn!("demo: simulated deposit failed: {e}"),
            }
        }
    }))
}
