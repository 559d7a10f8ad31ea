//! The wallet jobs against the simulator (fast blocks, short expiries) and a
//! real PostgreSQL: in-process engines for the happy paths and the final
//! failures, real `walletops worker` processes for SIGKILL at each step of a
//! consolidation and for a batch under injected faults. Money checks read
//! the simulator's ledger: every sweep once, and the balances plus the
//! burned fees add up to what was funded, to the unit.

mod common;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;
use walletops::engine::{Engine, EngineOptions, EngineReport, Registry, register_wallet_jobs};
use walletops::jobs::Context;
use walletops::queue::{self, JobType, NewJob};
use walletops::tron::client::{ClientConfig, TronClient, View};
use walletops::tron::sim::{MAINNET_USDT, SimConfig, SimHandle, Simulator};
use walletops::tron::tx::{Contract, RawTransaction};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};
use walletops::wallets::{self, MasterKey, WalletRole};

const TRX: u64 = 1_000_000;
const USDT: u64 = 1_000_000;
const RESERVE: u64 = TRX;

struct Env {
    db: common::TestDb,
    /// The workers' own login (walletops_worker), as in production: the
    /// jobs must work with the worker's grants alone.
    worker_login: common::admin::LoginRole,
    sim: SimHandle,
    http: reqwest::Client,
    client: TronClient,
    master_hex: String,
    gas: PrivateKey,
    treasury: Address,
    usdt: Address,
}

struct Deposit {
    id: Uuid,
    key: PrivateKey,
    address: Address,
}

fn random_key() -> PrivateKey {
    loop {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        b[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        if let Ok(k) = PrivateKey::from_bytes(&b) {
            return k;
        }
    }
}

fn client_for(sim: &SimHandle) -> TronClient {
    let mut config = ClientConfig::new(sim.url().clone());
    config.backoff_base = Duration::from_millis(20);
    config.backoff_cap = Duration::from_millis(200);
    config.max_retries = 8;
    config.requests_per_second = None;
    config.timeout = Duration::from_secs(5);
    TronClient::new(config).unwrap()
}

async fn set_config(pool: &PgPool, key: &str, value: Value) {
    let n = sqlx::query("UPDATE system_config SET value = $2 WHERE key = $1")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1, "{key} exists");
}

impl Env {
    /// A database, a simulator (100 ms blocks, 3 to solidify), an imported
    /// gas wallet with 10,000 TRX, an activated treasury and the switches set.
    async fn new() -> Self {
        walletops::tron::client::install_crypto_provider();
        let db = common::fresh_db().await;
        let sim = Simulator::spawn(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            block_interval: Duration::from_millis(100),
            solidify_blocks: 3,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let master_hex = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let worker_login = common::admin::LoginRole::create(&db.url, "walletops_worker").await;
        let env = Env {
            client: client_for(&sim),
            worker_login,
            db,
            sim,
            http: reqwest::Client::new(),
            master_hex,
            gas: random_key(),
            treasury: random_key().address(),
            usdt: MAINNET_USDT.parse().unwrap(),
        };
        wallets::import(
            &env.db.pool,
            &env.master(),
            "gas@example.com",
            WalletRole::Gas,
            &env.gas,
        )
        .await
        .unwrap();
        env.fund(&env.gas.address(), 10_000 * TRX, 0).await;
        env.fund(&env.treasury, TRX, 0).await;
        let pool = &env.db.pool;
        set_config(pool, "consolidation.treasury_address", json!(env.treasury)).await;
        set_config(pool, "gas.wallet_address", json!(env.gas.address())).await;
        set_config(pool, "gas.min_balance_sun", json!(100 * TRX)).await;
        set_config(pool, "consolidation.min_usdt", json!(10 * USDT)).await;
        set_config(pool, "consolidation.trx_reserve_sun", json!(RESERVE)).await;
        set_config(pool, "tron.tx_expiry_seconds", json!(4)).await;
        set_config(pool, "queue.lease_seconds", json!(2)).await;
        set_config(pool, "queue.backoff_base_seconds", json!(1)).await;
        set_config(pool, "queue.backoff_cap_seconds", json!(2)).await;
        env
    }

    fn master(&self) -> MasterKey {
        MasterKey::from_hex(&self.master_hex, "test").unwrap()
    }

    async fn fund(&self, address: &Address, trx_sun: u64, usdt: u64) {
        let r = self
            .http
            .post(self.sim.url().join("/sim/fund").unwrap())
            .json(&json!({"address": address, "trx_sun": trx_sun, "usdt": usdt}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn faults(&self, faults: Value) {
        let r = self
            .http
            .post(self.sim.url().join("/sim/faults").unwrap())
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn ledger(&self) -> Value {
        self.http
            .get(self.sim.url().join("/sim/ledger").unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A deposit wallet of a new user, funded on the simulator.
    async fn deposit(&self, trx_sun: u64, usdt: u64) -> Deposit {
        let key = random_key();
        let imported = wallets::import(
            &self.db.pool,
            &self.master(),
            &format!("user-{}@example.com", Uuid::new_v4().simple()),
            WalletRole::Deposit,
            &key,
        )
        .await
        .unwrap();
        self.fund(&key.address(), trx_sun, usdt).await;
        Deposit {
            id: imported.wallet_id,
            address: key.address(),
            key,
        }
    }

    async fn enqueue(&self, job_type: JobType, wallet: &Deposit) -> Uuid {
        let mut conn = self.db.pool.acquire().await.unwrap();
        let mut job = NewJob::new(job_type);
        job.wallet_address = Some(wallet.address.to_base58());
        job.wallet_id = Some(wallet.id);
        queue::enqueue(&mut conn, &job).await.unwrap().job.id
    }

    /// An in-process engine running the wallet jobs.
    fn engine(&self) -> RunningEngine {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(10)
            .connect_lazy(self.worker_login.url.expose())
            .unwrap();
        let mut ctx = Context::new(pool.clone(), client_for(&self.sim), self.master());
        ctx.poll = Duration::from_millis(100);
        ctx.wait = Duration::from_secs(20);
        let mut registry = Registry::new();
        register_wallet_jobs(&mut registry, Arc::new(ctx));
        let engine = Engine::new(pool, registry, EngineOptions::new(8));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(engine.run(async move {
            let _ = rx.await;
        }));
        RunningEngine { stop: tx, task }
    }

    /// A real `walletops worker` process against this database and
    /// simulator; its log goes to `log` when given.
    fn worker(&self, concurrency: u32, crash_at: Option<&str>, log: Option<&Path>) -> Child {
        let mut cmd = common::walletops();
        cmd.env("DATABASE_URL", self.worker_login.url.expose())
            .env("TRON_API_URL", self.sim.url().as_str())
            .env("WALLET_MASTER_KEY", &self.master_hex)
            .env("WALLETOPS_LOG", "walletops=info")
            .args(["worker", "--concurrency", &concurrency.to_string()])
            .args(["--tron-requests-per-second", "0", "--grace-seconds", "5"])
            .args(["--chain-poll-ms", "100"]);
        if let Some(step) = crash_at {
            cmd.args(["--test-crash-at", step]);
        }
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        cmd.stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start walletops worker")
    }

    /// Waits until the job is completed or failed; its status and message.
    async fn finished(&self, job: Uuid, limit: Duration) -> (String, Option<String>) {
        let deadline = Instant::now() + limit;
        loop {
            let (status, error): (String, Option<String>) =
                sqlx::query_as("SELECT status, error_message FROM job_logs WHERE id = $1")
                    .bind(job)
                    .fetch_one(&self.db.pool)
                    .await
                    .unwrap();
            if status == "completed" || status == "failed" {
                return (status, error);
            }
            assert!(
                Instant::now() < deadline,
                "job {job} still {status} ({error:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no job is pending or processing.
    async fn idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let active: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_logs WHERE status IN ('pending', 'processing')",
            )
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
            if active == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "{active} jobs still active");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs and broadcasts a transfer with a test-held key; waits until it
    /// is solidified.
    async fn send_direct(&self, contract: Contract, key: &PrivateKey, fee_limit: Sun) {
        let reference = self.client.now_block().await.unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        let signed = RawTransaction::new(
            contract,
            &reference,
            now,
            Duration::from_secs(30),
            fee_limit,
        )
        .sign(key);
        self.client.broadcast(&signed).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .client
            .transaction_info(&signed.txid(), View::Solidified)
            .await
            .unwrap()
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "direct transfer never solidified"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn usdt_of(&self, address: &Address) -> u64 {
        self.client
            .trc20_balance(&self.usdt, address)
            .await
            .unwrap()
            .0
    }

    async fn trx_of(&self, address: &Address) -> u64 {
        self.client.trx_balance(address).await.unwrap().0
    }
}

struct RunningEngine {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<EngineReport>,
}

impl RunningEngine {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// Kills and reaps a worker process that is still running.
fn reap(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Balances plus burned fees equal what was funded, in SUN and USDT units;
/// nothing is stuck in the simulator's pool.
fn assert_ledger_adds_up(ledger: &Value) {
    let accounts = ledger["accounts"].as_array().unwrap();
    let trx: u64 = accounts
        .iter()
        .map(|a| a["trx_sun"].as_u64().unwrap())
        .sum();
    let usdt: u64 = accounts.iter().map(|a| a["usdt"].as_u64().unwrap()).sum();
    let totals = &ledger["totals"];
    assert_eq!(
        trx + totals["burned_sun"].as_u64().unwrap(),
        totals["funded_trx_sun"].as_u64().unwrap(),
        "TRX adds up"
    );
    assert_eq!(
        usdt,
        totals["funded_usdt"].as_u64().unwrap(),
        "USDT adds up"
    );
}

/// Successful transactions of `asset` from `from` to `to` in the ledger.
fn moves<'a>(ledger: &'a Value, asset: &str, from: &Address, to: &Address) -> Vec<&'a Value> {
    let (from, to) = (from.to_base58(), to.to_base58());
    ledger["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["asset"] == asset
                && t["result"] == "SUCCESS"
                && t["from"].as_str() == Some(from.as_str())
                && t["to"].as_str() == Some(to.as_str())
        })
        .collect()
}

async fn transfer_rows(pool: &PgPool, wallet: Uuid) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT kind, status, amount FROM transfers WHERE wallet_id = $1 ORDER BY created_at",
    )
    .bind(wallet)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn processing_flag(pool: &PgPool, wallet: Uuid) -> (bool, Option<Uuid>) {
    sqlx::query_as("SELECT is_processing, processing_job_id FROM user_wallets WHERE id = $1")
        .bind(wallet)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consolidation_tops_up_gas_then_sweeps_usdt_and_trx_once() {
    let env = Env::new().await;
    // Never activated: holds USDT only, as a fresh deposit address does.
    let w = env.deposit(0, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    assert_eq!(status, "completed", "{error:?}");
    engine.stop().await;

    let ledger = env.ledger().await;
    assert_eq!(moves(&ledger, "USDT", &w.address, &env.treasury).len(), 1);
    assert_eq!(
        moves(&ledger, "TRX", &env.gas.address(), &w.address).len(),
        1
    );
    assert!(moves(&ledger, "TRX", &w.address, &env.treasury).len() <= 1);
    assert_eq!(env.usdt_of(&w.address).await, 0);
    assert_eq!(env.usdt_of(&env.treasury).await, 50 * USDT);
    assert!(
        env.trx_of(&w.address).await <= RESERVE + TRX,
        "TRX above the reserve swept"
    );
    assert_ledger_adds_up(&ledger);

    let rows = transfer_rows(&env.db.pool, w.id).await;
    assert!(rows.iter().all(|(_, s, _)| s == "confirmed"), "{rows:?}");
    assert!(
        rows.iter()
            .any(|(k, _, a)| k == "consolidation-usdt" && *a == 50 * USDT as i64)
    );
    assert!(rows.iter().any(|(k, _, _)| k == "gas-topup"));
    // The consolidation waited for its top-up without using up a retry.
    let (retries, topups): (i32, i64) = sqlx::query_as(
        "SELECT (SELECT retry_count FROM job_logs WHERE id = $1),
                (SELECT count(*) FROM job_logs WHERE job_type = 'gas-topup' AND status = 'completed')",
    )
    .bind(job)
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!((retries, topups), (0, 1));
    assert_eq!(processing_flag(&env.db.pool, w.id).await, (false, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gas_topup_sends_what_the_usdt_transfer_needs_and_skips_when_enough() {
    let env = Env::new().await;
    let w = env.deposit(0, 20 * USDT).await;
    let engine = env.engine();
    let first = env.enqueue(JobType::GasTopup, &w).await;
    assert_eq!(
        env.finished(first, Duration::from_secs(30)).await.0,
        "completed"
    );
    let received = env.trx_of(&w.address).await;
    // To a treasury holding no USDT: 130,000 energy at 100 SUN, plus the
    // bandwidth, plus the activation fee of a never-activated address.
    assert!(
        received > 13 * TRX + TRX && received < 15 * TRX,
        "{received}"
    );
    let second = env.enqueue(JobType::GasTopup, &w).await;
    assert_eq!(
        env.finished(second, Duration::from_secs(30)).await.0,
        "completed"
    );
    engine.stop().await;
    let ledger = env.ledger().await;
    assert_eq!(
        moves(&ledger, "TRX", &env.gas.address(), &w.address).len(),
        1,
        "the second top-up found enough and sent nothing"
    );
    assert_eq!(env.trx_of(&w.address).await, received);
    assert_ledger_adds_up(&ledger);

    // A fixed amount when gas.topup_sun is set.
    let v = env.deposit(0, 20 * USDT).await;
    set_config(&env.db.pool, "gas.topup_sun", json!(30 * TRX)).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::GasTopup, &v).await;
    assert_eq!(
        env.finished(job, Duration::from_secs(30)).await.0,
        "completed"
    );
    engine.stop().await;
    assert_eq!(env.trx_of(&v.address).await, 30 * TRX);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_stores_balances_and_each_transaction_once() {
    let env = Env::new().await;
    let w = env.deposit(0, 0).await;
    let customer = random_key();
    env.fund(&customer.address(), 100 * TRX, 40 * USDT).await;
    env.send_direct(
        Contract::Transfer {
            owner: customer.address(),
            to: w.address,
            amount: Sun(5 * TRX),
        },
        &customer,
        Sun::ZERO,
    )
    .await;
    env.send_direct(
        Contract::trc20_transfer(
            customer.address(),
            env.usdt,
            w.address,
            TokenUnits(25 * USDT),
        ),
        &customer,
        Sun(50 * TRX),
    )
    .await;
    // Outgoing, too.
    env.send_direct(
        Contract::Transfer {
            owner: w.address,
            to: customer.address(),
            amount: Sun(TRX),
        },
        &w.key,
        Sun::ZERO,
    )
    .await;

    let engine = env.engine();
    for _ in 0..3 {
        let job = env.enqueue(JobType::Sync, &w).await;
        assert_eq!(
            env.finished(job, Duration::from_secs(30)).await.0,
            "completed"
        );
    }
    let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT asset, direction, amount, status FROM wallet_transactions
          WHERE wallet_id = $1 ORDER BY asset, direction",
    )
    .bind(w.id)
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "trx".into(),
                "in".into(),
                5 * TRX as i64,
                "confirmed".into()
            ),
            ("trx".into(), "out".into(), TRX as i64, "confirmed".into()),
            (
                "usdt".into(),
                "in".into(),
                25 * USDT as i64,
                "confirmed".into()
            ),
        ]
    );
    let (trx, usdt, synced, status): (i64, i64, Option<chrono::DateTime<chrono::Utc>>, String) =
        sqlx::query_as(
            "SELECT trx_balance_sun, usdt_balance, last_synced_at, sync_status
               FROM user_wallets WHERE id = $1",
        )
        .bind(w.id)
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(trx as u64, env.trx_of(&w.address).await);
    assert_eq!(usdt as u64, 25 * USDT);
    assert!(synced.is_some());
    assert_eq!(status, "ok");
    let consolidations = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM job_logs WHERE job_type = 'consolidation'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(
        consolidations(env.db.pool.clone()).await,
        0,
        "off by default"
    );
    engine.stop().await;

    // With the switch on, a sync over the threshold queues a consolidation.
    set_config(&env.db.pool, "sync.auto_consolidate", json!(true)).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Sync, &w).await;
    assert_eq!(
        env.finished(job, Duration::from_secs(30)).await.0,
        "completed"
    );
    engine.stop().await;
    assert_eq!(consolidations(env.db.pool.clone()).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_or_invalid_treasury_fails_the_consolidation_and_moves_nothing() {
    let env = Env::new().await;
    let w = env.deposit(20 * TRX, 50 * USDT).await;
    let engine = env.engine();
    set_config(&env.db.pool, "consolidation.treasury_address", Value::Null).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .unwrap()
            .contains("consolidation.treasury_address is not set"),
        "{error:?}"
    );

    set_config(
        &env.db.pool,
        "consolidation.treasury_address",
        json!("TNotAnAddress"),
    )
    .await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .unwrap()
            .contains("is not a valid TRON address"),
        "{error:?}"
    );
    engine.stop().await;
    assert!(transfer_rows(&env.db.pool, w.id).await.is_empty());
    assert_eq!(env.usdt_of(&w.address).await, 50 * USDT);
    assert_eq!(env.trx_of(&w.address).await, 20 * TRX);
    assert_eq!(processing_flag(&env.db.pool, w.id).await, (false, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gas_wallet_running_low_fails_the_top_up_and_the_consolidation_waiting_for_it() {
    let env = Env::new().await;
    set_config(&env.db.pool, "gas.min_balance_sun", json!(20_000 * TRX)).await;
    let w = env.deposit(0, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    engine.stop().await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(error.contains("gas top-up"), "{error}");
    assert!(error.contains("below gas.min_balance_sun"), "{error}");
    let (topup_status, topup_error): (String, String) =
        sqlx::query_as("SELECT status, error_message FROM job_logs WHERE job_type = 'gas-topup'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(topup_status, "failed");
    assert!(topup_error.contains("refill it"), "{topup_error}");
    assert!(transfer_rows(&env.db.pool, w.id).await.is_empty());
    assert_eq!(env.usdt_of(&w.address).await, 50 * USDT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gas_wallet_awaiting_a_second_admin_pays_no_top_up() {
    let env = Env::new().await;
    // A new gas key imported through walletops: stored, but inactive until a
    // second admin approves it. The owner points gas.wallet_address at it.
    let key = random_key();
    let import = walletops::admin::wallets::import(
        &env.db.pool,
        &env.master(),
        "new-gas@example.com",
        WalletRole::Gas,
        &key,
    )
    .await
    .unwrap();
    let proposal = import.activation.unwrap().id;
    env.fund(&key.address(), 10_000 * TRX, 0).await;
    set_config(&env.db.pool, "gas.wallet_address", json!(key.address())).await;
    let w = env.deposit(0, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::GasTopup, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(error.contains("is not active"), "{error}");
    assert!(error.contains(&proposal.to_string()), "{error}");
    assert!(transfer_rows(&env.db.pool, w.id).await.is_empty());
    assert_eq!(env.trx_of(&w.address).await, 0);
}

/// Runs a worker that kills itself at `step`, and checks that it died by
/// SIGKILL at that step (not, say, of a start-up error).
fn crash_at(env: &Env, step: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let mut child = env.worker(2, Some(step), Some(&log));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker never reached {step}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.signal(), Some(9), "worker exited by SIGKILL: {text}");
    assert!(
        text.contains("test crash step reached") && text.contains(step),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_that_reverts_after_a_crash_fails_the_job_with_the_reason() {
    let env = Env::new().await;
    let w = env.deposit(30 * TRX, 50 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "after-sign");
    // The dead attempt still holds the wallet's flag; its rescue takes it over.
    assert_eq!(processing_flag(&env.db.pool, w.id).await, (true, Some(job)));
    // The signed sweep is recorded but never sent; the USDT leaves meanwhile.
    let rows = transfer_rows(&env.db.pool, w.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("consolidation-usdt", "signed")
    );
    let elsewhere = random_key().address();
    env.send_direct(
        Contract::trc20_transfer(w.address, env.usdt, elsewhere, TokenUnits(50 * USDT)),
        &w.key,
        Sun(50 * TRX),
    )
    .await;

    let worker = env.worker(1, None, None);
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    reap(worker);
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(
        error.contains("failed on chain") && error.contains("REVERT"),
        "{error}"
    );
    let rows = transfer_rows(&env.db.pool, w.id).await;
    assert_eq!(rows.len(), 1, "no second sweep was built: {rows:?}");
    assert_eq!(rows[0].1, "failed");
    let ledger = env.ledger().await;
    assert!(moves(&ledger, "USDT", &w.address, &env.treasury).is_empty());
    assert_ledger_adds_up(&ledger);
    assert_eq!(processing_flag(&env.db.pool, w.id).await, (false, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_every_step_of_a_consolidation_sweeps_each_wallet_exactly_once() {
    let env = Env::new().await;
    /// What the wallet holds decides which transfer the crash hits first.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Shape {
        /// USDT and TRX: the USDT sweep, then the TRX above the reserve.
        Full,
        /// USDT only: the gas top-up, then the USDT sweep.
        NeedsGas,
        /// TRX only (USDT below the threshold): the TRX sweep.
        TrxOnly,
    }
    let steps = ["after-sign", "after-broadcast", "before-done"];
    let mut wallets = Vec::new();
    for step in steps {
        for shape in [Shape::Full, Shape::NeedsGas, Shape::TrxOnly] {
            let (trx, usdt) = match shape {
                Shape::Full => (30 * TRX, (11 + wallets.len() as u64) * USDT),
                Shape::NeedsGas => (0, (11 + wallets.len() as u64) * USDT),
                Shape::TrxOnly => (30 * TRX, 5 * USDT),
            };
            let w = env.deposit(trx, usdt).await;
            let job = env.enqueue(JobType::Consolidation, &w).await;
            crash_at(&env, step);
            wallets.push((w, job, step, shape, trx, usdt));
        }
    }
    let worker = env.worker(4, None, None);
    for (_, job, step, shape, ..) in &wallets {
        let (status, error) = env.finished(*job, Duration::from_secs(90)).await;
        assert_eq!(status, "completed", "{step} {shape:?}: {error:?}");
    }
    // Rescued gas top-ups may still run after their consolidation is done.
    env.idle(Duration::from_secs(30)).await;
    reap(worker);
    for (w, _, step, shape, ..) in &wallets {
        let flag = processing_flag(&env.db.pool, w.id).await;
        assert_eq!(flag, (false, None), "{step} {shape:?}");
    }

    let ledger = env.ledger().await;
    let mut swept_usdt = 0;
    for (w, _, step, shape, trx, usdt) in &wallets {
        let what = format!("{step} {shape:?}");
        let usdt_moves = moves(&ledger, "USDT", &w.address, &env.treasury);
        let trx_moves = moves(&ledger, "TRX", &w.address, &env.treasury);
        let topups = moves(&ledger, "TRX", &env.gas.address(), &w.address);
        match shape {
            Shape::Full | Shape::NeedsGas => {
                assert_eq!(usdt_moves.len(), 1, "{what}: USDT swept once");
                assert_eq!(usdt_moves[0]["amount"], *usdt);
                assert_eq!(env.usdt_of(&w.address).await, 0, "{what}");
                swept_usdt += usdt;
            }
            Shape::TrxOnly => {
                assert!(usdt_moves.is_empty(), "{what}: below the threshold");
                assert_eq!(env.usdt_of(&w.address).await, *usdt);
            }
        }
        assert_eq!(
            topups.len(),
            usize::from(*shape == Shape::NeedsGas),
            "{what}"
        );
        if *shape != Shape::NeedsGas {
            assert_eq!(trx_moves.len(), 1, "{what}: TRX swept once");
        }
        assert!(trx_moves.len() <= 1, "{what}");
        // The TRX sweep leaves the reserve (its own fee comes out of the rest).
        let left = env.trx_of(&w.address).await;
        assert!(
            (RESERVE..RESERVE + TRX).contains(&left),
            "{what}: {left} left of {trx}"
        );
    }
    assert_eq!(env.usdt_of(&env.treasury).await, swept_usdt);
    assert_ledger_adds_up(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_injected_faults_a_batch_sweeps_every_wallet_once_or_fails_with_the_reason() {
    let env = Env::new().await;
    const WALLETS: usize = 100;
    set_config(&env.db.pool, "queue.max_retries", json!(10)).await;
    let mut wallets = Vec::new();
    for i in 0..WALLETS {
        let trx = if i % 2 == 0 { 30 * TRX } else { 0 };
        wallets.push(env.deposit(trx, (10 + i as u64) * USDT).await);
    }
    env.faults(json!({
        "rate_429": 0.05, "retry_after_s": 0, "rate_500": 0.05, "rate_drop": 0.05,
        "rate_busy": 0.02, "rate_never_mined": 0.1
    }))
    .await;
    let started = Instant::now();
    let mut jobs = Vec::new();
    for w in &wallets {
        jobs.push(env.enqueue(JobType::Consolidation, w).await);
    }
    let workers = [env.worker(16, None, None), env.worker(16, None, None)];
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut results = Vec::new();
    for job in &jobs {
        let (status, error) = env.finished(*job, Duration::from_secs(240)).await;
        *outcomes.entry(status.clone()).or_default() += 1;
        results.push((status, error));
    }
    let elapsed = started.elapsed();
    for w in workers {
        reap(w);
    }
    env.faults(json!({})).await;
    let (expired, rebroadcast): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'expired'),
                count(*) FILTER (WHERE broadcast_count > 1)
           FROM transfers",
    )
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    eprintln!(
        "faults batch of {WALLETS}: {outcomes:?} in {elapsed:?}; {expired} transfers expired \
         unmined and were rebuilt, {rebroadcast} were broadcast more than once"
    );
    // The faults really happened: never-mined transfers expired and were
    // built anew, others were sent again after an unknown outcome.
    assert!(expired > 0 && rebroadcast > 0);

    let ledger = env.ledger().await;
    for ((w, (status, error)), i) in wallets.iter().zip(&results).zip(0u64..) {
        let swept = moves(&ledger, "USDT", &w.address, &env.treasury);
        assert!(swept.len() <= 1, "wallet {i} swept twice");
        assert!(moves(&ledger, "TRX", &w.address, &env.treasury).len() <= 1);
        assert!(moves(&ledger, "TRX", &env.gas.address(), &w.address).len() <= 1);
        if status == "completed" {
            assert_eq!(swept.len(), 1, "wallet {i}");
            assert_eq!(swept[0]["amount"], (10 + i) * USDT);
            assert_eq!(env.usdt_of(&w.address).await, 0);
        } else {
            assert!(
                error.as_deref().is_some_and(|e| !e.is_empty()),
                "wallet {i}: failed without a reason"
            );
        }
    }
    assert_ledger_adds_up(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_next_job_resolves_a_transfer_whose_job_was_deleted_before_anything_else() {
    let env = Env::new().await;
    let w = env.deposit(30 * TRX, 40 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "after-broadcast");
    // The job is gone (an operator cleared it); its transfer record stays.
    sqlx::query("DELETE FROM job_logs WHERE id = $1")
        .bind(job)
        .execute(&env.db.pool)
        .await
        .unwrap();
    let (job_id, status): (Option<Uuid>, String) = sqlx::query_as(
        "SELECT job_id, status FROM transfers WHERE wallet_id = $1 AND kind = 'consolidation-usdt'",
    )
    .bind(w.id)
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert_eq!((job_id, status.as_str()), (None, "broadcast"));

    let engine = env.engine();
    let next = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(next, Duration::from_secs(60)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    let rows = transfer_rows(&env.db.pool, w.id).await;
    let usdt: Vec<_> = rows
        .iter()
        .filter(|(k, _, _)| k == "consolidation-usdt")
        .collect();
    // Either the stored sweep landed, or it expired unmined and exactly one
    // new one was built: never both.
    assert!(
        usdt.iter().filter(|(_, s, _)| s == "confirmed").count() == 1,
        "{rows:?}"
    );
    let ledger = env.ledger().await;
    assert_eq!(moves(&ledger, "USDT", &w.address, &env.treasury).len(), 1);
    assert_eq!(env.usdt_of(&env.treasury).await, 40 * USDT);
    assert_ledger_adds_up(&ledger);
}

/// The worker's output and exit code with these extra variables.
fn worker_start_failure(env: &Env, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = common::walletops();
    cmd.env("DATABASE_URL", env.db.url.expose())
        .args(["worker", "--concurrency", "1"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_refuses_to_start_without_a_tron_node_or_master_key() {
    let env = Env::new().await;
    let (code, stderr) = worker_start_failure(&env, &[("WALLET_MASTER_KEY", &env.master_hex)]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("no TRON node configured: set TRON_API_URL"),
        "{stderr}"
    );
    let url = env.sim.url().to_string();
    let (code, stderr) = worker_start_failure(&env, &[("TRON_API_URL", &url)]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("no wallet master key"), "{stderr}");
    assert!(!stderr.contains(&env.master_hex));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_sends_a_leftover_transfer_again_before_reading_balances() {
    let env = Env::new().await;
    let w = env.deposit(30 * TRX, 40 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "after-sign");
    sqlx::query("DELETE FROM job_logs WHERE id = $1")
        .bind(job)
        .execute(&env.db.pool)
        .await
        .unwrap();
    let engine = env.engine();
    let sync = env.enqueue(JobType::Sync, &w).await;
    assert_eq!(
        env.finished(sync, Duration::from_secs(30)).await.0,
        "completed"
    );
    engine.stop().await;
    let (status, sent): (String, i32) =
        sqlx::query_as("SELECT status, broadcast_count FROM transfers WHERE wallet_id = $1")
            .bind(w.id)
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    // Signed and never sent by the dead worker; the sync sent the same bytes
    // (or already saw them land, or expire unmined).
    assert!(
        status != "signed" && (sent >= 1 || status == "expired"),
        "{status} {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_records_a_transfer_and_one_per_wallet_and_kind() {
    use walletops::jobs::JobSettings;
    use walletops::jobs::transfers::{self, Asset, NewTransfer, TransferKind};
    use walletops::queue::Lease;

    let env = Env::new().await;
    let w = env.deposit(30 * TRX, 0).await;
    let holder = Uuid::new_v4();
    sqlx::query("INSERT INTO workers (id, host, pid, version) VALUES ($1, 'test', 1, 'test')")
        .bind(holder)
        .execute(&env.db.pool)
        .await
        .unwrap();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let claimed = queue::claim(&env.db.pool, holder, 1, Duration::from_secs(30))
        .await
        .unwrap();
    let lease = Lease::of(&claimed[0]).unwrap();
    assert_eq!(lease.job_id, job);

    let ctx = Context::new(env.db.pool.clone(), client_for(&env.sim), env.master());
    let settings = JobSettings::load(&env.db.pool).await.unwrap();
    let transfer = || NewTransfer {
        wallet_id: w.id,
        kind: TransferKind::ConsolidationTrx,
        asset: Asset::Trx,
        from: w.address,
        to: env.treasury,
        amount: 5 * TRX,
        contract: Contract::Transfer {
            owner: w.address,
            to: env.treasury,
            amount: Sun(5 * TRX),
        },
    };
    // An earlier attempt, or another holder, of the same job: refused.
    for stale in [
        Lease {
            attempt: lease.attempt - 1,
            ..lease
        },
        Lease {
            holder: Uuid::new_v4(),
            ..lease
        },
    ] {
        let err = transfers::create(&ctx, &stale, &settings, transfer(), &w.key)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("lease lost"), "{err}");
    }
    assert!(transfer_rows(&env.db.pool, w.id).await.is_empty());

    let first = transfers::create(&ctx, &lease, &settings, transfer(), &w.key)
        .await
        .unwrap();
    assert_eq!(first.status, "signed");
    // A second transfer of the same kind while the first is unresolved:
    // refused by the database, nothing written.
    let err = transfers::create(&ctx, &lease, &settings, transfer(), &w.key)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already has an unresolved"),
        "{err}"
    );
    assert_eq!(transfer_rows(&env.db.pool, w.id).await.len(), 1);
    // Nothing was broadcast: recording comes first.
    assert!(moves(&env.ledger().await, "TRX", &w.address, &env.treasury).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processing_flag_follows_the_lease_of_the_job_holding_the_wallet() {
    use walletops::jobs::processing;
    use walletops::queue::Lease;

    let env = Env::new().await;
    let w = env.deposit(0, 0).await;
    let holder = Uuid::new_v4();
    sqlx::query("INSERT INTO workers (id, host, pid, version) VALUES ($1, 'test', 1, 'test')")
        .bind(holder)
        .execute(&env.db.pool)
        .await
        .unwrap();
    let consolidation = env.enqueue(JobType::Consolidation, &w).await;
    let sync = env.enqueue(JobType::Sync, &w).await;
    let claimed = queue::claim(&env.db.pool, holder, 2, Duration::from_secs(30))
        .await
        .unwrap();
    let lease_of = |id: Uuid| Lease::of(claimed.iter().find(|j| j.id == id).unwrap()).unwrap();
    let (a, b) = (lease_of(consolidation), lease_of(sync));
    let pool = &env.db.pool;

    let flag = processing::acquire(pool, w.id, &a).await.unwrap().unwrap();
    assert_eq!(
        processing_flag(pool, w.id).await,
        (true, Some(consolidation))
    );
    // Another live job waits for it.
    assert!(processing::acquire(pool, w.id, &b).await.unwrap().is_none());
    // The same job (a rescued attempt) takes it over.
    let again = processing::acquire(pool, w.id, &a).await.unwrap().unwrap();
    assert_eq!(
        processing_flag(pool, w.id).await,
        (true, Some(consolidation))
    );
    again.release().await;
    flag.release().await;
    assert_eq!(processing_flag(pool, w.id).await, (false, None));

    // A flag whose job no longer runs is taken over by the next job.
    let stale = processing::acquire(pool, w.id, &a).await.unwrap().unwrap();
    sqlx::query("UPDATE job_logs SET status = 'failed' WHERE id = $1")
        .bind(consolidation)
        .execute(pool)
        .await
        .unwrap();
    let taken = processing::acquire(pool, w.id, &b).await.unwrap().unwrap();
    assert_eq!(processing_flag(pool, w.id).await, (true, Some(sync)));
    // The dead job's guard no longer clears the new holder's flag.
    stale.release().await;
    assert_eq!(processing_flag(pool, w.id).await, (true, Some(sync)));
    taken.release().await;
    assert_eq!(processing_flag(pool, w.id).await, (false, None));
    // A lease that is no longer the job's own takes nothing.
    let err = processing::acquire(pool, w.id, &Lease { attempt: 7, ..b })
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("lease lost"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rescued_top_up_whose_transfer_landed_sends_nothing_more() {
    let env = Env::new().await;
    let w = env.deposit(0, 20 * USDT).await;
    let job = env.enqueue(JobType::GasTopup, &w).await;
    // The top-up lands; the worker dies before the job is marked done.
    crash_at(&env, "before-done");
    let received = env.trx_of(&w.address).await;
    assert!(received > 13 * TRX, "{received}");
    // The wallet spends that TRX meanwhile (as its consolidation would).
    let elsewhere = random_key();
    env.fund(&elsewhere.address(), TRX, 0).await;
    env.send_direct(
        Contract::Transfer {
            owner: w.address,
            to: elsewhere.address(),
            amount: Sun(received - TRX),
        },
        &w.key,
        Sun::ZERO,
    )
    .await;

    let engine = env.engine();
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    let ledger = env.ledger().await;
    assert_eq!(
        moves(&ledger, "TRX", &env.gas.address(), &w.address).len(),
        1,
        "the rescued job did not top the wallet up again"
    );
    assert_ledger_adds_up(&ledger);
}
