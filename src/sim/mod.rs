//! `tron-sim`: a local simulator of the TRON full-node HTTP API, in the
//! real JSON shapes, for tests and the demo (no chain is reachable here).
//!
//! It keeps TRX balances and TRC-20 ledgers (USDT and declared tokens, with
//! the whole TRC-20 interface: `trc20`), bandwidth and energy (free, staked
//! and delegated under Stake 2.0, recovering over a window of
//! `resource_window_blocks` blocks), blocks on a timer, solidification,
//! expiry and receipts; it decodes every broadcast transaction's protobuf
//! and checks it in java-tron's order, its signatures against the owner's
//! permissions (multi-signature: `permissions`), so any correct TRON
//! implementation's transactions are accepted and nothing else is. Control
//! routes under `/sim/` fund addresses, show the ledger,
//! inject faults (forks among them), prune old blocks, count the requests
//! served and generate deposit traffic.
//! As a devnet ([`Simulator::spawn_devnet`]) it funds test accounts at
//! genesis and keeps the chain in a state file, and it answers the routes
//! client libraries use to build and send (`node_api`).

mod blocks;
mod chain;
mod devnet;
mod loadgen;
mod node_api;
mod permissions;
mod routes;
mod trc20;

pub use devnet::{StateFileError, dev_keys};

pub use loadgen::seeded_address;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use url::Url;

pub use trc20::{TokenSpec, TokenSpecError};

use crate::tron::MAINNET_USDT;
use crate::tron::address::Address;

/// How the simulated chain behaves. Defaults follow mainnet (docs/tron.md §4).
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub block_interval: Duration,
    /// Blocks on top of a block before it is solidified.
    pub solidify_blocks: u64,
    pub usdt_contract: Address,
    /// More TRC-20 tokens (`--token SYMBOL:DECIMALS`), besides USDT.
    pub tokens: Vec<TokenSpec>,
    /// SUN burned by an AccountPermissionUpdate (`getUpdateAccountPermissionFee`).
    pub update_account_permission_fee: u64,
    /// SUN burned by a transaction with more than one signature (`getMultiSignFee`).
    pub multi_sign_fee: u64,
    /// SUN per energy (`getEnergyFee`).
    pub energy_fee: u64,
    /// SUN per byte of bandwidth (`getTransactionFee`).
    pub transaction_fee: u64,
    /// Bandwidth-equivalent SUN burned to create an account (`getCreateAccountFee`).
    pub create_account_fee: u64,
    /// SUN burned when a transfer activates an account.
    pub create_new_account_fee_in_system_contract: u64,
    /// Free bandwidth per account per day (per resource window).
    pub free_net_limit: u64,
    /// Energy of a USDT transfer to an address that already holds USDT...
    pub usdt_energy_to_holder: u64,
    /// ...and to one that holds none.
    pub usdt_energy_to_new_holder: u64,
    /// Staked energy and all bandwidth recover linearly over this many blocks
    /// (mainnet: 28,800 blocks of 3 s, 24 hours), so a short block interval
    /// shortens the window with it.
    pub resource_window_blocks: u64,
    /// `TotalEnergyLimit`: the network's daily energy, shared by stake.
    pub total_energy_limit: u64,
    /// TRX staked for energy by the rest of the network; the simulator's own
    /// stakes add to it to make `TotalEnergyWeight`.
    pub network_energy_weight: u64,
    /// `TotalNetLimit`: the network's daily staked bandwidth.
    pub total_net_limit: u64,
    /// TRX staked for bandwidth by the rest of the network.
    pub network_net_weight: u64,
    /// Days (in resource windows) before unstaked TRX can be withdrawn.
    pub unfreeze_delay_days: u64,
    /// When set, node routes answer 401 unless the `TRON-PRO-API-KEY`
    /// header carries it, as TronGrid does for an unknown key.
    pub api_key: Option<String>,
    /// Keep only this many newest blocks (never fewer than up to the
    /// solidified head), as a node with pruned history; `None` keeps all.
    pub keep_blocks: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            block_interval: Duration::from_millis(3000),
            solidify_blocks: 19,
            usdt_contract: MAINNET_USDT.parse().expect("valid constant"),
            tokens: Vec::new(),
            update_account_permission_fee: 100_000_000,
            multi_sign_fee: 1_000_000,
            energy_fee: 100,
            transaction_fee: 1000,
            create_account_fee: 100_000,
            create_new_account_fee_in_system_contract: 1_000_000,
            free_net_limit: 600,
            usdt_energy_to_holder: 65_000,
            usdt_energy_to_new_holder: 130_000,
            resource_window_blocks: 28_800,
            total_energy_limit: 180_000_000_000,
            network_energy_weight: 19_000_000_000,
            total_net_limit: 43_200_000_000,
            network_net_weight: 26_000_000_000,
            unfreeze_delay_days: 14,
            api_key: None,
            keep_blocks: None,
        }
    }
}

impl SimConfig {
    /// The resource recovery window in milliseconds of block time.
    pub fn resource_window_ms(&self) -> i64 {
        let ms = self.block_interval.as_millis().max(1) as i64;
        ms.saturating_mul(self.resource_window_blocks.max(1) as i64)
    }
}

/// Injected faults (`POST /sim/faults`); rates are probabilities per request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay before every node route answers.
    pub latency_ms: u64,
    /// HTTP 429 answers.
    pub rate_429: f64,
    /// Sent with 429 answers when set.
    pub retry_after_s: Option<u64>,
    /// The node's own limiter: HTTP 200 with "lack of computing resources".
    pub rate_busy: f64,
    /// HTTP 500 answers.
    pub rate_500: f64,
    /// Connections closed without an answer.
    pub rate_drop: f64,
    /// Broadcasts answered `result: true` whose transaction never lands.
    pub rate_never_mined: f64,
    /// Reorganisations of the blocks above the solidified head.
    pub fork: Option<ForkFault>,
}

/// After producing a block, with probability `rate`, the newest `depth`
/// blocks change hash (`Chain::fork`; fewer when fewer are unsolidified).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkFault {
    pub depth: u64,
    #[serde(default = "always")]
    pub rate: f64,
    /// Share of the orphaned blocks' transactions dropped for good.
    #[serde(default)]
    pub vanish: f64,
}

fn always() -> f64 {
    1.0
}

impl Faults {
    fn validate(&self) -> Result<(), String> {
        for (name, r) in [
            ("rate_429", self.rate_429),
            ("rate_busy", self.rate_busy),
            ("rate_500", self.rate_500),
            ("rate_drop", self.rate_drop),
            ("rate_never_mined", self.rate_never_mined),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} must be between 0 and 1, got {r}"));
            }
        }
        if let Some(f) = &self.fork {
            if f.depth == 0 {
                return Err("fork.depth must be at least 1".into());
            }
            for (name, r) in [("fork.rate", f.rate), ("fork.vanish", f.vanish)] {
                if !(0.0..=1.0).contains(&r) {
                    return Err(format!("{name} must be between 0 and 1, got {r}"));
                }
            }
        }
        Ok(())
    }
}

/// What a devnet start adds to a simulator (`walletops tron-sim
/// --accounts N --state FILE`).
#[derive(Debug, Clone, Default)]
pub struct Devnet {
    /// Funded on a new chain: address, TRX in SUN, USDT in token units.
    pub accounts: Vec<(Address, u64, u64)>,
    /// Where the chain is kept across restarts.
    pub state_file: Option<PathBuf>,
    /// How often the state file is written besides [`SimHandle::save`].
    pub save_interval: Duration,
}

/// Why a simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The state file cannot be used.
    #[error(transparent)]
    State(#[from] StateFileError),
    /// The test accounts' funding overflows.
    #[error("cannot fund the test accounts: {0}")]
    Fund(String),
}

/// State shared by the routes and the block producer.
struct Shared {
    chain: Mutex<chain::Chain>,
    faults: Mutex<Faults>,
    api_key: Option<String>,
    /// The deposit traffic added to every block, if any.
    loadgen: Mutex<Option<loadgen::LoadGen>>,
    /// Requests served per node route since start.
    stats: Mutex<std::collections::BTreeMap<String, u64>>,
    started_ms: i64,
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `config.listen` (port 0 picks a free one), starts producing
    /// blocks and serving; the simulator stops when the handle is dropped.
    pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
        Self::spawn_devnet(config, Devnet::default())
            .await
            .map_err(|e| match e {
                SpawnError::Listen { source, .. } => source,
                other => std::io::Error::other(other),
            })
    }

    /// [`Simulator::spawn`], resuming the chain in `devnet.state_file` if
    /// there is one, else funding `devnet.accounts` on a new chain.
    pub async fn spawn_devnet(config: SimConfig, devnet: Devnet) -> Result<SimHandle, SpawnError> {
        let listen = config.listen;
        let listen_err = |source| SpawnError::Listen {
            addr: listen,
            source,
        };
        let loaded = match &devnet.state_file {
            Some(path) => devnet::load(path, &config)?,
            None => None,
        };
        let resumed_at = loaded.as_ref().map(|c| c.head().number);
        let chain = match loaded {
            Some(chain) => chain,
            None => {
                let now = now_ms();
                let mut chain = chain::Chain::new(config.clone(), now);
                for (address, trx, usdt) in &devnet.accounts {
                    chain
                        .fund(*address, *trx, *usdt, now)
                        .map_err(SpawnError::Fund)?;
                }
                chain
            }
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(listen_err)?;
        let addr = listener.local_addr().map_err(listen_err)?;
        let interval = config.block_interval.max(Duration::from_millis(1));
        let shared = Arc::new(Shared {
            api_key: config.api_key.clone(),
            chain: Mutex::new(chain),
            faults: Mutex::new(Faults::default()),
            loadgen: Mutex::new(None),
            stats: Mutex::new(Default::default()),
            started_ms: now_ms(),
        });
        let producer = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    produce(&shared).await;
                }
            })
        };
        let app = routes::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("tron-sim server stopped: {e}");
            }
        });
        let mut tasks = vec![producer, server];
        if let Some(path) = devnet.state_file.clone() {
            let shared = shared.clone();
            let every = devnet.save_interval.max(Duration::from_millis(100));
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = save(&shared, &path).await {
                        tracing::warn!("tron-sim: {e}");
                    }
                }
            }));
        }
        let url = Url::parse(&format!("http://{addr}/")).expect("valid URL");
        Ok(SimHandle {
            url,
            addr,
            tasks,
            shared,
            state_file: devnet.state_file,
            resumed_at,
        })
    }
}

/// Produces one block: the load generator signs its transactions outside
/// the chain lock (readers and broadcasts go on meanwhile), then the block
/// is made, and the fork fault may reorganise the newest blocks.
async fn produce(shared: &Arc<Shared>) {
    let now = now_ms();
    let reference = {
        let chain = shared.chain.lock().expect("chain lock");
        let head = chain.head();
        crate::tron::RefBlock {
            number: head.number,
            id: head.id,
            timestamp_ms: head.timestamp_ms,
        }
    };
    let generating = shared.loadgen.lock().expect("loadgen lock").is_some();
    let extra = if generating {
        let generator = shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = generator.loadgen.lock().expect("loadgen lock");
            let txs = g.as_mut().map(|g| g.block(&reference, now));
            if g.as_ref().is_some_and(loadgen::LoadGen::finished) {
                *g = None;
            }
            txs.unwrap_or_default()
        })
        .await
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    let fork = shared.faults.lock().expect("faults lock").fork.clone();
    let mut chain = shared.chain.lock().expect("chain lock");
    chain.produce_block(now, extra);
    if let Some(f) = fork.filter(|f| roll() < f.rate) {
        let open = chain.head().number - chain.solid_number();
        if open > 0
            && let Err(e) = chain.fork(f.depth.min(open), f.vanish)
        {
            tracing::warn!("fork fault: {e}");
        }
    }
}

/// A running simulator; dropping it stops it.
pub struct SimHandle {
    url: Url,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    state_file: Option<PathBuf>,
    resumed_at: Option<u64>,
}

/// Writes the chain to `path`: a snapshot under the lock, the file after it.
async fn save(shared: &Arc<Shared>, path: &std::path::Path) -> Result<(), StateFileError> {
    let saved = devnet::Saved::of(&shared.chain.lock().expect("chain lock"));
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || saved.write(&path))
        .await
        .unwrap_or_else(|e| panic!("state file writer panicked: {e}"))
}

impl SimHandle {
    /// `http://127.0.0.1:PORT/`, for `TRON_API_URL`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The head block of the state file the chain resumed from, if it did.
    pub fn resumed_at(&self) -> Option<u64> {
        self.resumed_at
    }

    /// Writes the state file now (at shutdown); nothing without one.
    pub async fn save(&self) -> Result<(), StateFileError> {
        match &self.state_file {
            Some(path) => save(&self.shared, path).await,
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A uniform random number in [0, 1), for fault rolls.
fn roll() -> f64 {
    (getrandom::u64().unwrap_or(u64::MAX) >> 11) as f64 / (1u64 << 53) as f64
}
