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
use sqlx::{Connection, PgPool};
use tokio::sync::oneshot;
use uuid::Uuid;
use walletops::engine::{Engine, EngineOptions, EngineReport, Registry, register_wallet_jobs};
use walletops::jobs::Context;
use walletops::policy::Policy;
use walletops::queue::{self, JobType, NewJob};
use walletops::signer::{Core, Signer};
use walletops::sim::{SimConfig, SimHandle, Simulator};
use walletops::tron::client::{ClientConfig, TronClient, View};
use walletops::tron::tx::{Contract, RawTransaction};
use walletops::tron::{Address, MAINNET_USDT, PrivateKey, Sun, TokenUnits};
use walletops::wallets::{self, MasterKey, WalletRole};

const TRX: u64 = 1_000_000;
const USDT: u64 = 1_000_000;
const RESERVE: u64 = TRX;

struct Env {
    db: common::TestDb,
    /// Holds the funds policy file the workers sign under.
    dir: tempfile::TempDir,
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
            dir: tempfile::tempdir().unwrap(),
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
        env.write_policy(&Policy::starting_text(
            env.treasury,
            env.gas.address(),
            env.usdt,
        ));
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

    fn policy_file(&self) -> std::path::PathBuf {
        self.dir.path().join("policy.toml")
    }

    fn write_policy(&self, text: &str) {
        std::fs::write(self.policy_file(), text).unwrap();
    }

    /// Signs in process under the policy file, as a worker without --signer does.
    fn signer(&self) -> Signer {
        Signer::Local(Core::new(
            self.master(),
            Policy::load(&self.policy_file()).unwrap(),
        ))
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
        self.engine_with(client_for(&self.sim))
    }

    /// An in-process engine running the wallet jobs against `tron`.
    fn engine_with(&self, tron: TronClient) -> RunningEngine {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(10)
            .connect_lazy(self.worker_login.url.expose())
            .unwrap();
        let mut ctx = Context::new(pool.clone(), tron, self.signer());
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
            .env("WALLETOPS_POLICY", self.policy_file())
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

    /// Waits for `job` and asserts that it failed with an error naming
    /// every one of `says`; the error.
    async fn failed_with(&self, job: Uuid, says: &[&str]) -> String {
        let (status, error) = self.finished(job, Duration::from_secs(60)).await;
        assert_eq!(status, "failed", "{error:?}");
        let error = error.expect("a failed job says why");
        for s in says {
            assert!(error.contains(s), "{error}");
        }
        error
    }

    /// Runs a `job_type` job for `d` and asserts that the funds policy
    /// refused its transfer under `rule`; the error.
    async fn refused(&self, job_type: JobType, d: &Deposit, rule: &str) -> String {
        let job = self.enqueue(job_type, d).await;
        let says = format!("policy refused the transfer ({rule})");
        self.failed_with(job, &[&says]).await
    }

    /// Asserts that nothing left `d`: no transfer recorded, nothing sent
    /// from it on the chain, `usdt` still on it, and it is free again.
    async fn assert_untouched(&self, d: &Deposit, usdt: u64) {
        assert!(transfer_rows(&self.db.pool, d.id).await.is_empty());
        assert!(sent_by(&self.ledger().await, &d.address).is_empty());
        assert_eq!(self.usdt_of(&d.address).await, usdt);
        assert_eq!(processing_flag(&self.db.pool, d.id).await, (false, None));
    }

    /// The starting policy with TRX sweeps capped at `per_transfer` SUN a
    /// transfer, `per_wallet` a wallet a day and `total` a day in all.
    fn trx_sweep_caps(&self, per_transfer: u64, per_wallet: u64, total: u64) -> String {
        const STARTING: &str = "[sweep_trx]\nper_transfer = 10000000000       # 10,000 TRX\nper_wallet_per_day = 20000000000 # 20,000 TRX\ntotal_per_day = 100000000000     # 100,000 TRX";
        let starting = Policy::starting_text(self.treasury, self.gas.address(), self.usdt);
        assert!(
            starting.contains(STARTING),
            "Policy::starting_text's [sweep_trx] caps changed: update STARTING here"
        );
        starting.replace(
            STARTING,
            &format!(
                "[sweep_trx]\nper_transfer = {per_transfer}\nper_wallet_per_day = {per_wallet}\ntotal_per_day = {total}"
            ),
        )
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
    // Staked TRX stays the staker's, off its balance.
    let trx: u64 = accounts
        .iter()
        .map(|a| a["trx_sun"].as_u64().unwrap() + a["staked_sun"].as_u64().unwrap_or(0))
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
async fn a_viewer_login_holding_locks_does_not_stall_signing() {
    let env = Env::new().await;
    let (_, _, viewer) = common::admin::staff(&env.db).await;
    // What a wall screen's login could take: every advisory lock it likes
    // (signing once waited on one), and the signing row it may not lock.
    let mut session = viewer.pool.acquire().await.unwrap();
    for kind in ["consolidation-usdt", "consolidation-trx", "gas-topup"] {
        sqlx::query("SELECT pg_advisory_lock(hashtext('walletops.sign:' || $1))")
            .bind(kind)
            .execute(&mut *session)
            .await
            .unwrap();
    }
    let mut tx = viewer.pool.begin().await.unwrap();
    assert!(
        sqlx::query("SELECT kind FROM signing_locks FOR UPDATE")
            .execute(&mut *tx)
            .await
            .is_err()
    );
    let w = env.deposit(0, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    assert_eq!(env.usdt_of(&env.treasury).await, 50 * USDT);
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
    // The job's detail lists its sweep with the chain's answer and fee.
    let sweep_job: Uuid = sqlx::query_scalar(
        "SELECT job_id FROM transfers WHERE wallet_id = $1 AND kind = 'consolidation-usdt'",
    )
    .bind(w.id)
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    let detail = walletops::admin::jobs::detail(&env.db.pool, sweep_job)
        .await
        .unwrap();
    let sweep = detail
        .transfers
        .iter()
        .find(|t| t.kind == walletops::admin::TransferKind::ConsolidationUsdt)
        .unwrap();
    assert_eq!(sweep.status, walletops::admin::TransferStatus::Confirmed);
    assert!(sweep.block_number.is_some() && sweep.resolved_at.is_some());
    assert!(sweep.fee_sun.is_some(), "{sweep:?}");
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

/// The raw receipt the simulator gives for `tx_id` once solidified.
async fn raw_receipt(env: &Env, tx_id: &str) -> Value {
    env.http
        .post(
            env.sim
                .url()
                .join("/walletsolidity/gettransactioninfobyid")
                .unwrap(),
        )
        .json(&json!({"value": tx_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_mined_transfer_records_its_receipts_costs_and_the_report_sums_them() {
    let env = Env::new().await;
    // Never activated: its top-up pays the activation.
    let fresh = env.deposit(0, 50 * USDT).await;
    let funded = env.deposit(40 * TRX, 20 * USDT).await;
    let engine = env.engine();
    for w in [&fresh, &funded] {
        let job = env.enqueue(JobType::Consolidation, w).await;
        let (status, error) = env.finished(job, Duration::from_secs(60)).await;
        assert_eq!(status, "completed", "{error:?}");
    }
    engine.stop().await;

    type CostRow = (
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<CostRow> = sqlx::query_as(
        "SELECT tx_id, kind, status, fee_sun, energy_total, energy_stake, energy_fee_sun,
                net_usage, net_fee_sun, activation_fee_sun
           FROM transfers ORDER BY created_at",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert!(rows.len() >= 3, "{rows:?}");
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    let mut activations = 0;
    for (tx_id, kind, status, fee, total, stake, energy_fee, net, net_fee, activation) in &rows {
        assert_eq!(status, "confirmed", "{tx_id}");
        let r = raw_receipt(&env, tx_id).await;
        let receipt = &r["receipt"];
        assert_eq!(*fee, Some(n(&r["fee"])), "{kind} {tx_id} fee: {r}");
        assert_eq!(*total, Some(n(&receipt["energy_usage_total"])), "{r}");
        assert_eq!(
            *stake,
            Some(n(&receipt["energy_usage"]) + n(&receipt["origin_energy_usage"])),
            "{r}"
        );
        assert_eq!(*energy_fee, Some(n(&receipt["energy_fee"])), "{r}");
        assert_eq!(*net, Some(n(&receipt["net_usage"])), "{r}");
        assert_eq!(*net_fee, Some(n(&receipt["net_fee"])), "{r}");
        assert_eq!(
            *activation,
            Some(n(&r["fee"]) - n(&receipt["energy_fee"]) - n(&receipt["net_fee"])),
            "{r}"
        );
        if kind == "consolidation-usdt" {
            // The simulator burns every unit of energy: no stake anywhere.
            assert!(total.unwrap() > 0 && energy_fee.unwrap() > 0, "{r}");
        }
        activations += activation.unwrap();
    }
    // Exactly one account was created (the fresh deposit address, by its
    // top-up), at the chain's system-contract fee.
    assert_eq!(activations, 1_000_000);
    let ledger = env.ledger().await;
    let created: Vec<&Value> = ledger["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["created_account"] == true)
        .filter(|t| t["to"].as_str() == Some(fresh.address.to_base58().as_str()))
        .collect();
    assert_eq!(created.len(), 1);

    // The report, read by a viewer's login, sums the records exactly.
    let (_, _, viewer) = common::admin::staff(&env.db).await;
    let today = chrono::Utc::now().date_naive();
    let report = walletops::admin::stats::cost_report(&viewer.pool, today)
        .await
        .unwrap();
    let sum = |pick: fn(&CostRow) -> Option<i64>, kind: Option<&str>| -> u64 {
        rows.iter()
            .filter(|r| kind.is_none_or(|k| r.1 == k))
            .map(|r| pick(r).unwrap() as u64)
            .sum()
    };
    let total = &report.total;
    assert_eq!(total.transfers, rows.len() as u64);
    assert_eq!(total.burned, Sun(sum(|r| r.3, None)));
    assert_eq!(total.energy_total, sum(|r| r.4, None));
    assert_eq!(total.energy_stake, sum(|r| r.5, None));
    assert_eq!(total.energy_burned, sum(|r| r.4, None) - sum(|r| r.5, None));
    assert_eq!(total.energy_fee, Sun(sum(|r| r.6, None)));
    assert_eq!(total.net_usage, sum(|r| r.7, None));
    assert_eq!(total.net_fee, Sun(sum(|r| r.8, None)));
    assert_eq!(total.activation_fee, Sun(1_000_000));
    // A sweep is a USDT consolidation; the TRX swept after it and the
    // top-ups before are its costs.
    let sweeps = rows.iter().filter(|r| r.1 == "consolidation-usdt").count() as u64;
    assert_eq!(sweeps, 2);
    assert_eq!(total.sweeps, sweeps);
    assert_eq!(
        report.burned_per_sweep,
        Some(Sun((total.burned.0 - 1_000_000) / sweeps))
    );
    for row in &report.rows {
        assert_eq!(row.day, today);
        let kind = row.kind.to_string();
        assert_eq!(row.totals.burned, Sun(sum(|r| r.3, Some(&kind))), "{kind}");
        assert_eq!(row.totals.energy_total, sum(|r| r.4, Some(&kind)), "{kind}");
        assert_eq!(row.totals.net_usage, sum(|r| r.7, Some(&kind)), "{kind}");
    }
    assert_eq!(report.days.len(), 1);
    assert_eq!(report.days[0].totals, *total);
    // Nothing resolved tomorrow.
    let tomorrow = walletops::admin::stats::cost_report(&viewer.pool, today.succ_opt().unwrap())
        .await
        .unwrap();
    assert!(tomorrow.rows.is_empty() && tomorrow.total.transfers == 0);

    // The stats (status --json, /api/workers/stats, /metrics) carry today's
    // and the week's figures, from the same records.
    let stats = walletops::admin::stats::snapshot(&viewer.pool)
        .await
        .unwrap();
    for w in [&stats.costs.today, &stats.costs.last_7_days] {
        assert_eq!(w.burned, total.burned);
        assert_eq!(w.sweeps, sweeps);
        assert_eq!(w.activation_fee, Sun(1_000_000));
        assert_eq!(w.burned_per_sweep, report.burned_per_sweep);
    }
    // The running workers read the energy price: burning all of that
    // energy would have cost exactly what it did, and nothing was saved.
    let price = env.client.chain_parameters().await.unwrap().energy_fee;
    let burn_equivalent = Sun(total.energy_total * price.0);
    assert_eq!(stats.costs.burn_equivalent, Some(burn_equivalent));
    let priced = stats.costs.last_7_days.priced.unwrap();
    assert_eq!(
        (
            priced.energy_price,
            priced.burn_equivalent,
            priced.saving_sun
        ),
        (price, burn_equivalent, 0)
    );
    assert_eq!(burn_equivalent, total.energy_fee);
    assert_eq!(report.priced, Some(priced));
    let metrics = walletops::api::metrics::render(&stats);
    for line in [
        format!(
            "walletops_trx_burned_sun{{window=\"today\"}} {}",
            total.burned.0
        ),
        format!(
            "walletops_trx_burned_sun{{window=\"7d\"}} {}",
            total.burned.0
        ),
        format!("walletops_sweeps_mined{{window=\"7d\"}} {sweeps}"),
        format!(
            "walletops_trx_burned_per_sweep_sun{{window=\"today\"}} {}",
            report.burned_per_sweep.unwrap().0
        ),
        format!(
            "walletops_energy_used{{window=\"today\",source=\"burned\"}} {}",
            total.energy_burned
        ),
    ] {
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // The real binary, as the viewer: `costs --json` is the same report,
    // `status --json` carries the stats' costs.
    let run = |args: &[&str]| {
        let out = common::walletops()
            .env("DATABASE_URL", viewer.url.expose())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let json: Value =
        serde_json::from_str(&run(&["costs", "--since", &today.to_string(), "--json"])).unwrap();
    assert_eq!(json, serde_json::to_value(&report).unwrap());
    let text = run(&["costs", "--wide"]);
    assert!(text.contains(&total.burned.to_string()), "{text}");
    let status: Value = serde_json::from_str(&run(&["status", "--json"])).unwrap();
    assert_eq!(
        status["costs"]["last_7_days"]["burned"],
        json!(total.burned.0),
        "{status}"
    );
    assert!(
        text.contains(&format!(
            "burning all that energy would have cost {burn_equivalent}"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_transfer_of_an_attempt_is_broadcast_once() {
    let env = Env::new().await;
    // Enough TRX for the USDT transfer: one attempt, no top-up.
    let w = env.deposit(100 * TRX, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    assert_eq!(status, "completed", "{error:?}");
    engine.stop().await;

    let attempts: i32 = sqlx::query_scalar("SELECT attempt FROM job_logs WHERE id = $1")
        .bind(job)
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);
    // The node saw each txID once, though the worker looked it up until it
    // was solidified.
    let ledger = env.ledger().await;
    let usdt = moves(&ledger, "USDT", &w.address, &env.treasury);
    let trx = moves(&ledger, "TRX", &w.address, &env.treasury);
    assert_eq!((usdt.len(), trx.len()), (1, 1));
    assert_eq!(usdt[0]["broadcasts"], 1, "{}", usdt[0]);
    assert_eq!(trx[0]["broadcasts"], 1, "{}", trx[0]);
    let counts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT kind, broadcast_count FROM transfers WHERE wallet_id = $1 ORDER BY kind",
    )
    .bind(w.id)
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(
        counts,
        [
            ("consolidation-trx".to_string(), 1),
            ("consolidation-usdt".to_string(), 1)
        ]
    );
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

    // A fixed amount when gas.topup_sun is set, within the estimated need
    // plus the policy's margin (20%)...
    let v = env.deposit(0, 20 * USDT).await;
    set_config(&env.db.pool, "gas.topup_sun", json!(16 * TRX)).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::GasTopup, &v).await;
    assert_eq!(
        env.finished(job, Duration::from_secs(30)).await.0,
        "completed"
    );
    assert_eq!(env.trx_of(&v.address).await, 16 * TRX);
    // ... and refused above it, whatever gas.topup_sun says.
    let u = env.deposit(0, 20 * USDT).await;
    set_config(&env.db.pool, "gas.topup_sun", json!(30 * TRX)).await;
    let job = env.enqueue(JobType::GasTopup, &u).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .unwrap()
            .contains("policy refused the transfer (topup-above-need)"),
        "{error:?}"
    );
    assert_eq!(env.trx_of(&u.address).await, 0);
    assert!(transfer_rows(&env.db.pool, u.id).await.is_empty());
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
async fn an_unset_treasury_is_the_policys_and_an_invalid_one_moves_nothing() {
    let env = Env::new().await;
    let engine = env.engine();
    // Unset: the policy's first treasury.
    let v = env.deposit(20 * TRX, 50 * USDT).await;
    set_config(&env.db.pool, "consolidation.treasury_address", Value::Null).await;
    let job = env.enqueue(JobType::Consolidation, &v).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    assert_eq!(status, "completed", "{error:?}");
    assert_eq!(env.usdt_of(&env.treasury).await, 50 * USDT);

    let w = env.deposit(20 * TRX, 50 * USDT).await;
    set_config(
        &env.db.pool,
        "consolidation.treasury_address",
        json!("TNotAnAddress"),
    )
    .await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    env.failed_with(job, &["is not a valid TRON address"]).await;
    engine.stop().await;
    env.assert_untouched(&w, 50 * USDT).await;
    assert_eq!(env.trx_of(&w.address).await, 20 * TRX);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gas_wallet_running_low_fails_the_top_up_and_the_consolidation_waiting_for_it() {
    let env = Env::new().await;
    set_config(&env.db.pool, "gas.min_balance_sun", json!(20_000 * TRX)).await;
    let w = env.deposit(0, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    env.failed_with(job, &["gas top-up", "below gas.min_balance_sun"])
        .await;
    engine.stop().await;
    let (topup_status, topup_error): (String, String) =
        sqlx::query_as("SELECT status, error_message FROM job_logs WHERE job_type = 'gas-topup'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(topup_status, "failed");
    assert!(topup_error.contains("refill it"), "{topup_error}");
    // Amounts in TRX, written the one way: never a raw SUN figure.
    assert!(
        topup_error.contains("below gas.min_balance_sun 20,000.000000 TRX"),
        "{topup_error}"
    );
    assert!(!topup_error.contains("SUN"), "{topup_error}");
    env.assert_untouched(&w, 50 * USDT).await;
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
    // The signing host's policy names it, so only the missing approval stops it.
    env.write_policy(&Policy::starting_text(
        env.treasury,
        key.address(),
        env.usdt,
    ));
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

async fn usdt_sweep_status(pool: &PgPool, wallet: Uuid) -> String {
    sqlx::query_scalar(
        "SELECT status FROM transfers WHERE wallet_id = $1 AND kind = 'consolidation-usdt'",
    )
    .bind(wallet)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_died_out_of_retries_with_its_transfer_in_flight_is_not_dead_lettered() {
    let env = Env::new().await;
    set_config(&env.db.pool, "queue.max_retries", json!(1)).await;
    let w = env.deposit(100 * TRX, 50 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "after-broadcast");
    assert_eq!(usdt_sweep_status(&env.db.pool, w.id).await, "broadcast");

    // The lease runs out with no retry left, but the sweep may still land:
    // the job gets the attempt that resolves it, instead of failing.
    let engine = env.engine();
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    assert_eq!(usdt_sweep_status(&env.db.pool, w.id).await, "confirmed");
    let ledger = env.ledger().await;
    let swept = moves(&ledger, "USDT", &w.address, &env.treasury);
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0]["broadcasts"], 1, "{}", swept[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maintenance_resolves_the_transfer_of_a_job_cancelled_while_it_was_in_flight() {
    let env = Env::new().await;
    let w = env.deposit(100 * TRX, 50 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "after-broadcast");
    assert_eq!(usdt_sweep_status(&env.db.pool, w.id).await, "broadcast");
    // An operator ends the job while its sweep is in flight: no job will
    // settle the record, yet it must follow the chain.
    sqlx::query(
        "UPDATE job_logs SET status = 'cancelled', locked_until = NULL, finished_at = now()
          WHERE id = $1",
    )
    .bind(job)
    .execute(&env.db.pool)
    .await
    .unwrap();

    let engine = env.engine();
    let deadline = Instant::now() + Duration::from_secs(60);
    while usdt_sweep_status(&env.db.pool, w.id).await != "confirmed" {
        assert!(
            Instant::now() < deadline,
            "the dead job's sweep was never resolved"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.stop().await;
    let ledger = env.ledger().await;
    let swept = moves(&ledger, "USDT", &w.address, &env.treasury);
    assert_eq!(swept.len(), 1);
    // Maintenance only looked: the dead job's transfer was not pushed again.
    assert_eq!(swept[0]["broadcasts"], 1, "{}", swept[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attempt_failing_while_its_own_transfer_may_land_spends_no_retry() {
    let env = Env::new().await;
    set_config(&env.db.pool, "queue.max_retries", json!(2)).await;
    let w = env.deposit(100 * TRX, 50 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "after-broadcast");
    // The node turns unavailable: the next attempts cannot look the sweep
    // up, and each would have spent the last retry and failed the job.
    env.faults(json!({"rate_429": 1.0})).await;
    let engine = env.engine();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, attempt, retries): (String, i32, i32) =
            sqlx::query_as("SELECT status, attempt, retry_count FROM job_logs WHERE id = $1")
                .bind(job)
                .fetch_one(&env.db.pool)
                .await
                .unwrap();
        assert_ne!(status, "failed");
        if attempt >= 4 {
            // One retry for the crash (the lease ran out), none since.
            assert_eq!(retries, 1);
            break;
        }
        assert!(Instant::now() < deadline, "job stuck at attempt {attempt}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.faults(json!({})).await;
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    assert_eq!(usdt_sweep_status(&env.db.pool, w.id).await, "confirmed");
    let ledger = env.ledger().await;
    assert_eq!(moves(&ledger, "USDT", &w.address, &env.treasury).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_every_step_of_a_consolidation_sweeps_each_wallet_exactly_once() {
    let env = Env::new().await;
    // Each crashing worker may also take jobs queued before its own and die
    // holding them; on a loaded machine more leases run out between crashes.
    // What is tested is "exactly once", not how many attempts it took.
    set_config(&env.db.pool, "queue.max_retries", json!(20)).await;
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
    cmd.env("DATABASE_URL", env.worker_login.url.expose())
        .env_remove("WALLETOPS_POLICY")
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
async fn the_worker_refuses_to_start_without_a_tron_node_master_key_or_policy() {
    let env = Env::new().await;
    let (code, stderr) = worker_start_failure(&env, &[("WALLET_MASTER_KEY", &env.master_hex)]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("no TRON node configured: set TRON_API_URL"),
        "{stderr}"
    );
    let url = env.sim.url().to_string();
    let policy = env.policy_file();
    let policy = policy.to_str().unwrap();
    let (code, stderr) = worker_start_failure(
        &env,
        &[("TRON_API_URL", &url), ("WALLETOPS_POLICY", policy)],
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("no wallet master key"), "{stderr}");
    assert!(!stderr.contains(&env.master_hex));

    // Without a policy: it names the file it looked for.
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let (code, stderr) = worker_start_failure(
        &env,
        &[
            ("TRON_API_URL", &url),
            ("WALLET_MASTER_KEY", &env.master_hex),
            ("XDG_CONFIG_HOME", home_path),
        ],
    );
    assert_ne!(code, Some(0));
    let expected = home.path().join("walletops").join("policy.toml");
    assert!(
        stderr.contains(&format!("no funds policy at {}", expected.display())),
        "{stderr}"
    );
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

    let ctx = Context::new(env.db.pool.clone(), client_for(&env.sim), env.signer());
    let settings = JobSettings::load(&env.db.pool).await.unwrap();
    let transfer = || NewTransfer {
        wallet_id: w.id,
        sender_wallet: w.id,
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
        topup_need: None,
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
        let err = transfers::create(&ctx, transfers::Maker::Job(&stale), &settings, transfer())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("lease lost"), "{err}");
    }
    assert!(transfer_rows(&env.db.pool, w.id).await.is_empty());

    let first = transfers::create(&ctx, transfers::Maker::Job(&lease), &settings, transfer())
        .await
        .unwrap();
    assert_eq!(first.status, transfers::TransferStatus::Signed);
    // A second transfer of the same kind while the first is unresolved:
    // refused by the database, nothing written.
    let err = transfers::create(&ctx, transfers::Maker::Job(&lease), &settings, transfer())
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

// ---- The funds policy at the moment of signing ----------------------------

/// Every transaction in the simulator's ledger sent by `from`, whatever its
/// result or destination.
fn sent_by<'a>(ledger: &'a Value, from: &Address) -> Vec<&'a Value> {
    let from = from.to_base58();
    ledger["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["from"].as_str() == Some(from.as_str()))
        .collect()
}

async fn security_events(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT rule, message FROM security_events ORDER BY created_at, id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn health(pool: &PgPool) -> walletops::admin::health::Health {
    walletops::admin::stats::health(pool).await.unwrap().health
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_treasury_outside_the_policy_signs_nothing_and_health_is_down_until_acknowledged() {
    use walletops::admin::{self, health::Status};

    let env = Env::new().await;
    let attacker = random_key().address();
    let admin_id = common::admin::operator(&env.db, "admin@example.com", admin::Role::Admin).await;
    let engine = env.engine();

    // Door 1: two admins' proposal (the database's delay at zero). Door 2:
    // plain SQL as the database owner.
    let second = common::admin::operator(&env.db, "second@example.com", admin::Role::Admin).await;
    set_config(&env.db.pool, "policy.change_delay_seconds", json!(0)).await;
    let w = env.deposit(20 * TRX, 1_000 * USDT).await;
    let p = admin::proposals::propose(
        &admin_id.pool,
        &admin_id,
        "consolidation.treasury_address",
        json!(attacker),
    )
    .await
    .unwrap();
    let p = admin::proposals::approve(&second.pool, &second, p.id)
        .await
        .unwrap();
    assert_eq!(p.status, admin::proposals::ProposalStatus::Applied);
    let by_config = env.refused(JobType::Consolidation, &w, "destination").await;
    assert!(by_config.contains(&attacker.to_base58()), "{by_config}");

    let v = env.deposit(20 * TRX, 1_000 * USDT).await;
    sqlx::query("UPDATE system_config SET value = $1 WHERE key = 'consolidation.treasury_address'")
        .bind(json!(attacker))
        .execute(&env.db.pool)
        .await
        .unwrap();
    env.refused(JobType::Consolidation, &v, "destination").await;

    // Our own deposit wallet as the treasury, and the token itself, are
    // refused too: as a proposal at once, and at signing time when written
    // around it.
    for (bad, says) in [(w.address, "deposit wallet"), (env.usdt, "USDT contract")] {
        let err = admin::proposals::propose(
            &admin_id.pool,
            &admin_id,
            "consolidation.treasury_address",
            json!(bad),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        // The database refuses it, not only the CLI: an admin login calling
        // the proposal or configuration function itself.
        for sql in [
            "SELECT walletops_proposal_create('consolidation.treasury_address', $1)",
            "SELECT walletops_config_set('consolidation.treasury_address', $1)",
        ] {
            let err = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(json!(bad))
                .execute(&admin_id.pool)
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("cannot be")
                    || err.to_string().contains(says)
                    || err.to_string().contains("moves money"),
                "{sql}: {err}"
            );
        }
    }
    for bad in [w.address, env.usdt] {
        set_config(&env.db.pool, "consolidation.treasury_address", json!(bad)).await;
        env.refused(JobType::Consolidation, &v, "destination").await;
    }
    engine.stop().await;

    // Nothing signed, nothing moved: the funds are where they were.
    let ledger = env.ledger().await;
    for d in [&w, &v] {
        env.assert_untouched(d, 1_000 * USDT).await;
    }
    assert_eq!(env.usdt_of(&attacker).await, 0);
    assert_ledger_adds_up(&ledger);

    // Recorded as security events; health is Down with the reason.
    let events = security_events(&env.db.pool).await;
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(
        events.iter().all(|(rule, _)| rule == "destination"),
        "{events:?}"
    );
    let h = health(&env.db.pool).await;
    assert_eq!(h.status, Status::Down);
    assert!(
        h.reasons
            .iter()
            .any(|r| r.starts_with("policy refused a transfer: 4 unacknowledged")),
        "{:?}",
        h.reasons
    );

    // The worker's database login (the one the engine ran as, which
    // recorded them) can neither hide nor acknowledge them, not even through
    // the database's acknowledging function.
    let mut worker = env.worker_login.connect().await;
    for attempt in [
        "UPDATE security_events SET message = 'nothing'",
        "DELETE FROM security_events",
        "INSERT INTO security_acks (event_id) SELECT id FROM security_events",
        "SELECT walletops_security_ack(NULL, 'mine')",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(attempt))
            .execute(&mut worker)
            .await
            .unwrap_err();
        // Refused by the grants; were a later migration's
        // walletops_secure_tables() to hand them back, by the triggers.
        let err = err.to_string();
        assert!(
            err.contains("permission denied")
                || err.contains("append-only")
                || err.contains("only an admin"),
            "{attempt}: {err}"
        );
    }
    worker.close().await.unwrap();
    // Not even the owner rewrites them.
    assert!(
        sqlx::query("DELETE FROM security_events")
            .execute(&env.db.pool)
            .await
            .is_err()
    );
    assert_eq!(security_events(&env.db.pool).await.len(), 4);

    // An admin acknowledges them (audited); the reason goes away.
    let acked = admin::security::acknowledge(&admin_id.pool, &admin_id, None, Some("drill"))
        .await
        .unwrap();
    assert_eq!(acked.len(), 4);
    let h = health(&env.db.pool).await;
    assert!(
        !h.reasons.iter().any(|r| r.contains("policy refused")),
        "{:?}",
        h.reasons
    );
    // One audit row per event, written by the database, naming the admin it
    // proved (not an external change).
    let audited: Vec<(bool, Option<Uuid>)> = sqlx::query_as(
        "SELECT external, admin_user_id FROM admin_actions WHERE action_type = 'security.ack'",
    )
    .fetch_all(&env.db.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 4);
    assert!(
        audited
            .iter()
            .all(|(external, by)| !external && *by == admin_id.user_id),
        "{audited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_top_up_to_a_changed_wallet_row_or_from_a_gas_wallet_outside_the_policy_is_refused() {
    let env = Env::new().await;
    let attacker = random_key().address();
    let w = env.deposit(0, 20 * USDT).await;
    // Someone with write access to the row points it at their own address.
    sqlx::query("UPDATE user_wallets SET address = $2 WHERE id = $1")
        .bind(w.id)
        .bind(attacker.to_base58())
        .execute(&env.db.pool)
        .await
        .unwrap();
    let engine = env.engine();
    env.refused(JobType::GasTopup, &w, "recipient").await;
    engine.stop().await;

    // A gas wallet the policy does not name, even one whose key we hold,
    // never pays: the job fails before anything is signed.
    let other_gas = random_key();
    wallets::import(
        &env.db.pool,
        &env.master(),
        "other-gas@example.com",
        WalletRole::Gas,
        &other_gas,
    )
    .await
    .unwrap();
    env.fund(&other_gas.address(), 1_000 * TRX, 0).await;
    set_config(
        &env.db.pool,
        "gas.wallet_address",
        json!(other_gas.address()),
    )
    .await;
    let v = env.deposit(0, 20 * USDT).await;
    let engine = env.engine();
    env.refused(JobType::GasTopup, &v, "sender").await;
    engine.stop().await;

    let ledger = env.ledger().await;
    assert!(sent_by(&ledger, &env.gas.address()).is_empty());
    assert!(sent_by(&ledger, &other_gas.address()).is_empty());
    assert_eq!(env.trx_of(&attacker).await, 0);
    assert_eq!(env.trx_of(&v.address).await, 0);
    assert_eq!(security_events(&env.db.pool).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daily_caps_refuse_the_excess_and_count_across_restarts() {
    let env = Env::new().await;
    // TRX sweeps: 10 TRX a transfer, 10 TRX per wallet and 15 TRX in total a day.
    env.write_policy(&env.trx_sweep_caps(10 * TRX, 10 * TRX, 15 * TRX));

    // Each sweeps about 7 TRX (8 minus the 1 TRX reserve and fees).
    let a = env.deposit(8 * TRX, 0).await;
    let b = env.deposit(8 * TRX, 0).await;
    let c = env.deposit(8 * TRX, 0).await;
    let engine = env.engine();
    for d in [&a, &b] {
        let job = env.enqueue(JobType::Consolidation, d).await;
        let (status, error) = env.finished(job, Duration::from_secs(30)).await;
        assert_eq!(status, "completed", "{error:?}");
    }
    env.refused(JobType::Consolidation, &c, "total-daily-cap")
        .await;
    engine.stop().await;

    // A restarted worker counts what the transfer records show for today.
    let engine = env.engine();
    env.refused(JobType::Consolidation, &c, "total-daily-cap")
        .await;
    // A wallet's own cap: a second sweep of `a` the same day.
    env.fund(&a.address, 8 * TRX, 0).await;
    env.refused(JobType::Consolidation, &a, "wallet-daily-cap")
        .await;
    engine.stop().await;

    let ledger = env.ledger().await;
    assert_eq!(moves(&ledger, "TRX", &a.address, &env.treasury).len(), 1);
    assert_eq!(moves(&ledger, "TRX", &b.address, &env.treasury).len(), 1);
    assert!(sent_by(&ledger, &c.address).is_empty());
    assert_eq!(env.trx_of(&c.address).await, 8 * TRX);
    // Every refusal is a counted security event.
    let events = security_events(&env.db.pool).await;
    let rules: Vec<&str> = events.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        rules,
        ["total-daily-cap", "total-daily-cap", "wallet-daily-cap"]
    );
    assert_ledger_adds_up(&ledger);
}

/// Red team (migration 0011): a worker's login that marks today's transfer
/// records expired (it writes their status) no longer lowers what the
/// in-process signer counts towards the daily caps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_marked_expired_by_sql_still_counts_towards_the_daily_cap() {
    let env = Env::new().await;
    // TRX sweeps: at most 10 TRX in total a day.
    let text = Policy::starting_text(env.treasury, env.gas.address(), env.usdt).replace(
        "[sweep_trx]\nper_transfer = 10000000000       # 10,000 TRX\nper_wallet_per_day = 20000000000 # 20,000 TRX\ntotal_per_day = 100000000000     # 100,000 TRX",
        "[sweep_trx]\nper_transfer = 10000000\nper_wallet_per_day = 10000000\ntotal_per_day = 10000000",
    );
    assert!(text.contains("total_per_day = 10000000\n"));
    env.write_policy(&text);
    let a = env.deposit(8 * TRX, 0).await;
    let b = env.deposit(8 * TRX, 0).await;
    // A 9 TRX sweep of `a` signed today, which the attacker then marks
    // expired (a status may still move forward, as the jobs move it).
    sqlx::query(
        "INSERT INTO transfers (wallet_id, kind, asset, from_address, to_address, amount,
                                tx_id, signed_tx, expires_at)
         VALUES ($1, 'consolidation-trx', 'trx', $2, $3, 9000000, 'rt01', '\\x00',
                 now() + interval '1 minute')",
    )
    .bind(a.id)
    .bind(a.address.to_base58())
    .bind(env.treasury.to_base58())
    .execute(&env.db.pool)
    .await
    .unwrap();
    let marked = sqlx::query("UPDATE transfers SET status = 'expired' WHERE tx_id = 'rt01'")
        .execute(&env.db.pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(marked, 1);
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &b).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    assert_eq!(status, "failed");
    assert!(
        error.as_deref().unwrap().contains("total-daily-cap"),
        "{error:?}"
    );
    engine.stop().await;
    assert_eq!(env.trx_of(&b.address).await, 8 * TRX);
}

// ---- walletops signer ------------------------------------------------------

/// A running `walletops signer` with its secret and log files.
struct SignerProc {
    child: Child,
    url: url::Url,
    listen: String,
    secret_file: std::path::PathBuf,
    ledger: std::path::PathBuf,
}

impl Env {
    /// Starts `walletops signer` with this env's master key and policy on
    /// `listen` (port 0: any).
    fn signer_proc(&self, listen: &str) -> SignerProc {
        use std::io::BufRead as _;
        let secret_file = self.dir.path().join("signer.secret");
        if !secret_file.exists() {
            std::fs::write(
                &secret_file,
                format!("{}\n", Uuid::new_v4().simple().to_string().repeat(2)),
            )
            .unwrap();
        }
        let ledger = self.dir.path().join("signer-ledger.jsonl");
        let mut child = common::walletops()
            .env("WALLET_MASTER_KEY", &self.master_hex)
            .env("WALLETOPS_POLICY", self.policy_file())
            .env("WALLETOPS_LOG", "walletops=info")
            .args(["signer", "--listen", listen])
            .arg("--secret-file")
            .arg(&secret_file)
            .arg("--ledger")
            .arg(&ledger)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start walletops signer");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("unix:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let url: url::Url = address.parse().unwrap();
        SignerProc {
            child,
            listen: match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap()),
                None => address.to_string(),
            },
            url,
            secret_file,
            ledger,
        }
    }

    /// A request to sweep `amount` SUN of `d` to `to`, whose transaction
    /// sends `actual_to` the amount.
    async fn trx_sweep_request(
        &self,
        d: &Deposit,
        to: Address,
        actual_to: Address,
        amount: u64,
    ) -> SignRequest {
        let (address, sealed) = wallets::stored_key(&self.db.pool, d.id).await.unwrap();
        let reference = self.client.now_block().await.unwrap();
        let raw = RawTransaction::new(
            Contract::Transfer {
                owner: d.address,
                to: actual_to,
                amount: Sun(amount),
            },
            &reference,
            chrono::Utc::now().timestamp_millis(),
            Duration::from_secs(60),
            Sun::ZERO,
        );
        SignRequest {
            kind: TransferKind::ConsolidationTrx,
            asset: Asset::Trx,
            from: d.address,
            to,
            amount,
            wallet_id: d.id,
            sender: SealedWallet {
                wallet_id: d.id,
                address: address.parse().unwrap(),
                ciphertext: sealed.ciphertext,
                nonce: sealed.nonce,
            },
            recipient: None,
            topup_need: None,
            raw: raw.encode(),
        }
    }
}

use walletops::jobs::transfers::{Asset, TransferKind};
use walletops::signer::auth::{NONCE_HEADER, SIGNATURE_HEADER, SharedSecret, TIMESTAMP_HEADER};
use walletops::signer::remote::RemoteSigner;
use walletops::signer::{SealedWallet, SignError, SignRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_refuses_a_mismatch_no_or_bad_authentication_and_a_replay_and_keeps_its_count() {
    let env = Env::new().await;
    // TRX sweeps: 5 TRX a transfer, 12 TRX a day in total.
    env.write_policy(&env.trx_sweep_caps(5 * TRX, 12 * TRX, 12 * TRX));
    let signer = env.signer_proc("127.0.0.1:0");
    let secret = || SharedSecret::from_file(&signer.secret_file).unwrap();
    let remote = RemoteSigner::connect(signer.url.clone(), secret())
        .await
        .unwrap();
    assert_eq!(remote.policy().treasuries, vec![env.treasury]);
    let w = env.deposit(50 * TRX, 0).await;
    let attacker = random_key().address();

    // Described as a sweep to the treasury, built to pay the attacker.
    let lie = env
        .trx_sweep_request(&w, env.treasury, attacker, 5 * TRX)
        .await;
    match remote.sign(&lie).await {
        Err(SignError::Refused(r)) => assert_eq!(r.rule.as_str(), "mismatch", "{r}"),
        other => panic!("signed a mismatched request: {other:?}"),
    }
    // Honest, but to the attacker: not a treasury.
    let honest = env.trx_sweep_request(&w, attacker, attacker, 5 * TRX).await;
    match remote.sign(&honest).await {
        Err(SignError::Refused(r)) => assert_eq!(r.rule.as_str(), "destination", "{r}"),
        other => panic!("signed a sweep to the attacker: {other:?}"),
    }
    // A good one is signed by the deposit wallet.
    let good = env
        .trx_sweep_request(&w, env.treasury, env.treasury, 5 * TRX)
        .await;
    let signed = remote.sign(&good).await.unwrap();
    signed.verify_owner().unwrap();

    // No authentication, and a wrong secret: refused.
    let http = reqwest::Client::new();
    let sign_url = signer.url.join("/v1/sign").unwrap();
    let body = serde_json::to_vec(&good).unwrap();
    let r = http
        .post(sign_url.clone())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let wrong = env.dir.path().join("wrong.secret");
    std::fs::write(&wrong, "x".repeat(64)).unwrap();
    let err = RemoteSigner::connect(signer.url.clone(), SharedSecret::from_file(&wrong).unwrap())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("401"), "{err}");

    // A request recorded on the wire and sent again: refused the second time.
    let second = serde_json::to_vec(
        &env.trx_sweep_request(&w, env.treasury, env.treasury, 5 * TRX)
            .await,
    )
    .unwrap();
    let ts = chrono::Utc::now().timestamp_millis();
    let nonce = walletops::signer::auth::nonce();
    let sig = secret().sign(ts, &nonce, "POST", "/v1/sign", &second);
    let send = || {
        http.post(sign_url.clone())
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(NONCE_HEADER, &nonce)
            .header(SIGNATURE_HEADER, &sig)
            .body(second.clone())
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("already used"));

    // 10 of 12 TRX signed today, in the signer's own log; a restarted
    // signer counts them again and refuses a third 5 TRX.
    // Its refusals are there too, out of any worker's reach.
    let lines = std::fs::read_to_string(&signer.ledger).unwrap();
    let refused = lines.lines().filter(|l| l.contains("\"refused\"")).count();
    assert_eq!((lines.lines().count(), refused), (4, 2), "{lines}");
    let listen = signer.listen.clone();
    reap(signer.child);
    let signer = env.signer_proc(&listen);
    let remote = RemoteSigner::connect(signer.url.clone(), secret())
        .await
        .unwrap();
    let third = env
        .trx_sweep_request(&w, env.treasury, env.treasury, 5 * TRX)
        .await;
    match remote.sign(&third).await {
        Err(SignError::Refused(r)) => assert_eq!(r.rule.as_str(), "wallet-daily-cap", "{r}"),
        other => panic!("the restarted signer forgot today's count: {other:?}"),
    }
    reap(signer.child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_with_a_signer_and_no_master_key_tops_up_and_sweeps_once_even_when_the_signer_dies()
 {
    let env = Env::new().await;
    let signer = env.signer_proc("127.0.0.1:0");
    let worker = |log: &Path| {
        common::walletops()
            .env("DATABASE_URL", env.worker_login.url.expose())
            .env("TRON_API_URL", env.sim.url().as_str())
            .env("WALLETOPS_LOG", "walletops=info")
            .args([
                "worker",
                "--concurrency",
                "4",
                "--tron-requests-per-second",
                "0",
            ])
            .args(["--chain-poll-ms", "100", "--grace-seconds", "5"])
            .args(["--signer", signer.url.as_str()])
            .arg("--signer-secret-file")
            .arg(&signer.secret_file)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .unwrap()
    };
    let log = env.dir.path().join("worker.log");
    let child = worker(&log);

    // The demo flow: a deposit, its gas top-up, its consolidation.
    let w = env.deposit(0, 40 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(60)).await;
    assert_eq!(
        status,
        "completed",
        "{error:?}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );

    // The signer dies; a consolidation waits for it, then completes once.
    let listen = signer.listen.clone();
    reap(signer.child);
    let v = env.deposit(0, 40 * USDT).await;
    let job2 = env.enqueue(JobType::Consolidation, &v).await;
    // Restart it only once the worker has met it dead (a fixed sleep lost
    // that race on a loaded machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("cannot reach the signer")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never tried the dead signer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signer = env.signer_proc(&listen);
    let (status, error) = env.finished(job2, Duration::from_secs(60)).await;
    assert_eq!(
        status,
        "completed",
        "{error:?}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    reap(child);
    reap(signer.child);
    let worker_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        worker_log.contains("cannot reach the signer"),
        "the job never met the dead signer:\n{worker_log}"
    );

    let ledger = env.ledger().await;
    for d in [&w, &v] {
        assert_eq!(
            moves(&ledger, "TRX", &env.gas.address(), &d.address).len(),
            1
        );
        assert_eq!(moves(&ledger, "USDT", &d.address, &env.treasury).len(), 1);
    }
    assert_eq!(env.usdt_of(&env.treasury).await, 80 * USDT);
    // Every signature is in the signer's log: two top-ups, two USDT sweeps
    // and any TRX sweeps.
    let lines = std::fs::read_to_string(&signer.ledger).unwrap();
    assert!(lines.lines().count() >= 4, "{lines}");
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains(&env.master_hex)
    );
    assert_ledger_adds_up(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_smart_contract_is_never_a_treasury_even_when_the_policy_names_it() {
    let env = Env::new().await;
    // A policy written wrongly: it names a contract (the simulator's token,
    // under another token address) as the treasury.
    let elsewhere = random_key().address();
    env.write_policy(&Policy::starting_text(
        env.usdt,
        env.gas.address(),
        elsewhere,
    ));
    set_config(&env.db.pool, "consolidation.treasury_address", Value::Null).await;
    assert!(env.client.is_contract(&env.usdt).await.unwrap());
    assert!(!env.client.is_contract(&env.treasury).await.unwrap());
    let w = env.deposit(20 * TRX, 50 * USDT).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Consolidation, &w).await;
    env.failed_with(job, &["is a smart contract, not a wallet"])
        .await;
    engine.stop().await;
    env.assert_untouched(&w, 50 * USDT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fake_wallet_row_with_a_large_top_up_setting_gets_nothing() {
    let env = Env::new().await;
    let attacker = random_key().address();
    // A deposit wallet inserted around walletops, with no key of ours, and
    // a top-up setting that would empty the gas wallet.
    let fake: Uuid = sqlx::query_scalar(
        "INSERT INTO user_wallets (address, role) VALUES ($1, 'deposit') RETURNING id",
    )
    .bind(attacker.to_base58())
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    env.fund(&attacker, 0, 20 * USDT).await;
    set_config(&env.db.pool, "gas.topup_sun", json!(500 * TRX)).await;
    let engine = env.engine();
    let mut conn = env.db.pool.acquire().await.unwrap();
    let mut job = NewJob::new(JobType::GasTopup);
    job.wallet_id = Some(fake);
    let job = queue::enqueue(&mut conn, &job).await.unwrap().job.id;
    env.failed_with(
        job,
        &[
            "policy refused the transfer (recipient)",
            &attacker.to_base58(),
        ],
    )
    .await;
    engine.stop().await;
    assert_eq!(env.trx_of(&attacker).await, 0);
    assert!(sent_by(&env.ledger().await, &env.gas.address()).is_empty());
    assert_eq!(security_events(&env.db.pool).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_serves_a_unix_socket_only_its_owner_and_group_may_open() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new().await;
    let socket = env.dir.path().join("signer.sock");
    let signer = env.signer_proc(&format!("unix:{}", socket.display()));
    assert_eq!(signer.url.scheme(), "unix");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let remote = RemoteSigner::connect(
        signer.url.clone(),
        SharedSecret::from_file(&signer.secret_file).unwrap(),
    )
    .await
    .unwrap();
    let w = env.deposit(50 * TRX, 0).await;
    let good = env
        .trx_sweep_request(&w, env.treasury, env.treasury, 5 * TRX)
        .await;
    remote.sign(&good).await.unwrap().verify_owner().unwrap();
    reap(signer.child);
}

/// The policy file's `change_delay_seconds` is the signing side's minimum:
/// a payout address that a proposal applied sooner after its approval (the
/// database's own delay set shorter) signs nothing; one that waited long
/// enough is used. A first value that no proposal set (here the owner's,
/// as a new deployment's) is held to the allowlist only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payout_address_applied_sooner_than_the_policys_change_delay_signs_nothing() {
    use walletops::admin::{self, proposals};

    const TREASURY: &str = "consolidation.treasury_address";
    let env = Env::new().await;
    let pool = &env.db.pool;
    env.write_policy(
        &Policy::starting_text(env.treasury, env.gas.address(), env.usdt)
            .replace("change_delay_seconds = 86400", "change_delay_seconds = 2"),
    );
    let a = common::admin::operator(&env.db, "admin@example.com", admin::Role::Admin).await;
    let b = common::admin::operator(&env.db, "second@example.com", admin::Role::Admin).await;
    let engine = env.engine();
    let change = async |delay: u64| {
        set_config(pool, TREASURY, Value::Null).await;
        set_config(pool, "policy.change_delay_seconds", json!(delay)).await;
        let p = proposals::propose(&a.pool, &a, TREASURY, json!(env.treasury))
            .await
            .unwrap();
        proposals::approve(&b.pool, &b, p.id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(delay * 1000 + 100)).await;
        proposals::apply_due(pool).await.unwrap();
        assert_eq!(
            proposals::get(pool, p.id).await.unwrap().status,
            proposals::ProposalStatus::Applied
        );
    };

    // The database's delay at zero: applied at once, an allowed treasury,
    // and still refused, as a security event.
    change(0).await;
    let w = env.deposit(20 * TRX, 50 * USDT).await;
    let error = env.refused(JobType::Consolidation, &w, "destination").await;
    assert!(
        error.contains("took effect 0 s after its approval")
            && error.contains("change_delay_seconds (2 s)"),
        "{error}"
    );
    env.assert_untouched(&w, 50 * USDT).await;
    assert_eq!(security_events(pool).await.len(), 1);

    // Proposed again with the database's delay at the policy's minimum:
    // the same address is used.
    change(2).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    assert_eq!(env.usdt_of(&env.treasury).await, 50 * USDT);
    assert_eq!(security_events(pool).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_refusing_the_api_key_fails_the_job_at_once_and_turns_health_down() {
    let env = Env::new().await;
    // A node that wants an API key the workers do not send.
    let keyed = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(100),
        api_key: Some("the-right-key".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let w = env.deposit(TRX, 0).await;
    let engine = env.engine_with(client_for(&keyed));
    let job = env.enqueue(JobType::Sync, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(
        error.contains("denied access") && error.contains("TRON_API_KEY"),
        "{error}"
    );
    let attempts: i32 = sqlx::query_scalar("SELECT attempt FROM job_logs WHERE id = $1")
        .bind(job)
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
    assert_eq!(
        attempts, 1,
        "failed on its first attempt, no retry with backoff"
    );
    let h = health(&env.db.pool).await;
    assert_eq!(h.status, walletops::admin::health::Status::Down, "{h:?}");
    assert!(
        h.reasons
            .iter()
            .any(|r| r.contains("refuses the workers' credentials")),
        "{h:?}"
    );

    // With a node that takes the workers' requests, the next job completes
    // and health forgets the refusal.
    let engine = env.engine();
    let job = env.enqueue(JobType::Sync, &w).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    let h = health(&env.db.pool).await;
    assert!(
        !h.reasons.iter().any(|r| r.contains("credentials")),
        "{h:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_is_only_unavailable_retries_the_job() {
    let env = Env::new().await;
    let w = env.deposit(TRX, 0).await;
    env.faults(json!({"rate_429": 1.0})).await;
    let engine = env.engine();
    let job = env.enqueue(JobType::Sync, &w).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, retries): (String, i32) =
            sqlx::query_as("SELECT status, retry_count FROM job_logs WHERE id = $1")
                .bind(job)
                .fetch_one(&env.db.pool)
                .await
                .unwrap();
        assert_ne!(status, "failed");
        if retries >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the job never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.faults(json!({})).await;
    let (status, error) = env.finished(job, Duration::from_secs(30)).await;
    engine.stop().await;
    assert_eq!(status, "completed", "{error:?}");
    let h = health(&env.db.pool).await;
    assert!(
        !h.reasons.iter().any(|r| r.contains("credentials")),
        "{h:?}"
    );
}

// ---------------------------------------------------------------------------
// The energy pool (issue 15): sweeps lent their energy by a staked wallet.
// ---------------------------------------------------------------------------

use walletops::tron::tx::Resource;

struct Pool {
    key: PrivateKey,
    address: Address,
}

impl Env {
    /// An imported energy wallet with `staked_trx` TRX staked for energy
    /// (and 100 TRX more), named by the funds policy with the energy kinds
    /// allowed.
    async fn energy_pool(&self, staked_trx: u64) -> Pool {
        let key = random_key();
        let address = key.address();
        wallets::import(
            &self.db.pool,
            &self.master(),
            "energy@example.com",
            WalletRole::Energy,
            &key,
        )
        .await
        .unwrap();
        self.fund(&address, (staked_trx + 100) * TRX, 0).await;
        if staked_trx > 0 {
            let stake = Contract::FreezeBalanceV2 {
                owner: address,
                frozen_balance: Sun(staked_trx * TRX),
                resource: Resource::Energy,
            };
            self.send_direct(stake, &key, Sun::ZERO).await;
        }
        self.write_policy(&self.energy_policy(&address));
        Pool { key, address }
    }

    /// The starting policy with `pool` as its energy wallet, the energy
    /// kinds allowed and the template's energy caps in force.
    fn energy_policy(&self, pool: &Address) -> String {
        let text = Policy::starting_text(self.treasury, self.gas.address(), self.usdt)
            .replace(
                "energy_wallets = []",
                &format!("energy_wallets = [\"{pool}\"]"),
            )
            .replace(
                r#"allowed_kinds = ["consolidation-usdt", "consolidation-trx", "gas-topup"]"#,
                r#"allowed_kinds = ["consolidation-usdt", "consolidation-trx", "gas-topup", "energy-stake", "energy-delegate", "energy-reclaim"]"#,
            )
            .replace("# [energy_", "[energy_")
            .replace("# per_transfer =", "per_transfer =")
            .replace("# per_wallet_per_day =", "per_wallet_per_day =")
            .replace("# total_per_day =", "total_per_day =");
        Policy::parse(&text).expect("the energy policy parses");
        text
    }

    /// Staked SUN the pool lends out now.
    async fn lent_out(&self, pool: &Pool) -> u64 {
        self.client
            .stake_v2(&pool.address)
            .await
            .unwrap()
            .delegated_out
            .energy
            .0
    }
}

/// The kinds and statuses of a wallet's transfer records, counted.
async fn kinds(pool: &PgPool, wallet: Uuid) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for (kind, status, _) in transfer_rows(pool, wallet).await {
        *counts.entry((kind, status)).or_default() += 1;
    }
    counts
}

fn once(kind: &str) -> ((String, String), usize) {
    ((kind.to_string(), "confirmed".to_string()), 1)
}

/// The notes a job's attempts wrote (`data.notes`).
async fn notes(pool: &PgPool, job: Uuid) -> String {
    sqlx::query_scalar::<_, Option<Value>>("SELECT data -> 'notes' FROM job_logs WHERE id = $1")
        .bind(job)
        .fetch_one(pool)
        .await
        .unwrap()
        .map(|v| v.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delegated_sweeps_burn_no_energy_activate_a_new_address_and_leave_nothing_lent() {
    let env = Env::new().await;
    let pool = env.energy_pool(40_000).await;
    set_config(&env.db.pool, "gas.mode", json!("delegate")).await;
    // Never activated (USDT only), and activated with only its reserve.
    let fresh = env.deposit(0, 50 * USDT).await;
    let active = env.deposit(RESERVE, 30 * USDT).await;
    let engine = env.engine();
    let first = env.enqueue(JobType::Consolidation, &fresh).await;
    let (status, error) = env.finished(first, Duration::from_secs(60)).await;
    assert_eq!(status, "completed", "{error:?}");
    let second = env.enqueue(JobType::Consolidation, &active).await;
    let (status, error) = env.finished(second, Duration::from_secs(60)).await;
    assert_eq!(status, "completed", "{error:?}");
    env.idle(Duration::from_secs(30)).await;
    engine.stop().await;

    assert_eq!(env.usdt_of(&env.treasury).await, 80 * USDT);
    assert_eq!(env.lent_out(&pool).await, 0, "nothing stays lent");
    let ledger = env.ledger().await;
    for (w, usdt) in [(&fresh, 50 * USDT), (&active, 30 * USDT)] {
        assert_eq!(env.usdt_of(&w.address).await, 0);
        let k = kinds(&env.db.pool, w.id).await;
        for kind in ["energy-delegate", "energy-reclaim", "consolidation-usdt"] {
            assert_eq!(k.get(&once(kind).0), Some(&1), "{kind}: {k:?}");
        }
        assert_eq!(
            moves(&ledger, "USDT", &w.address, &env.treasury)[0]["amount"],
            usdt
        );
        // Lent and taken back once each, on the chain too.
        assert_eq!(moves(&ledger, "STAKE", &pool.address, &w.address).len(), 2);
        // The sweep's stored costs are its receipt's, to the sun: its
        // energy came from the pool, none of it burned.
        let (tx_id, fee, total, stake, energy_fee, net, net_fee): (
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT tx_id, fee_sun, energy_total, energy_stake, energy_fee_sun, net_usage,
                    net_fee_sun
               FROM transfers WHERE wallet_id = $1 AND kind = 'consolidation-usdt'",
        )
        .bind(w.id)
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
        let receipt = ledger["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["txid"].as_str() == Some(tx_id.as_str()))
            .expect("the sweep is in the ledger");
        assert_eq!(fee, receipt["fee_sun"].as_i64().unwrap());
        assert_eq!(total, receipt["energy_usage"].as_i64().unwrap());
        assert_eq!(stake, receipt["energy_from_stake"].as_i64().unwrap());
        assert_eq!(energy_fee, receipt["energy_fee_sun"].as_i64().unwrap());
        assert_eq!(net, receipt["net_usage"].as_i64().unwrap());
        assert_eq!(net_fee, receipt["net_fee_sun"].as_i64().unwrap());
        assert_eq!((energy_fee, stake), (0, total), "no energy burned");
        assert!(total > 0);
    }
    // The new address was activated by a bandwidth-only top-up from the
    // gas wallet, whose activation fee is recorded as a cost.
    let topups = moves(&ledger, "TRX", &env.gas.address(), &fresh.address);
    assert_eq!(topups.len(), 1);
    let activation: i64 = sqlx::query_scalar(
        "SELECT activation_fee_sun FROM transfers WHERE wallet_id = $1 AND kind = 'gas-topup'",
    )
    .bind(fresh.id)
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert!(activation > 0);
    assert!(
        topups[0]["amount"].as_u64().unwrap() < 2 * TRX,
        "bandwidth and activation only, not the energy"
    );
    assert!(notes(&env.db.pool, first).await.contains("never activated"));
    assert!(moves(&ledger, "TRX", &env.gas.address(), &active.address).is_empty());
    assert_ledger_adds_up(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_pool_makes_delegate_sweeps_wait_and_auto_sweeps_burn_within_the_daily_cap() {
    let env = Env::new().await;
    // Enough for the first sweep (130,000 energy to a treasury without
    // USDT, plus the margin) but not for a second one as well.
    let pool = env.energy_pool(17_000).await;
    set_config(&env.db.pool, "gas.mode", json!("delegate")).await;
    let a = env.deposit(RESERVE, 20 * USDT).await;
    let b = env.deposit(RESERVE, 30 * USDT).await;
    let engine = env.engine();
    let first = env.enqueue(JobType::Consolidation, &a).await;
    assert_eq!(
        env.finished(first, Duration::from_secs(60)).await.0,
        "completed"
    );
    let second = env.enqueue(JobType::Consolidation, &b).await;
    // It waits, spending no retry, and says why.
    let says = |want: &'static str| {
        let pool = env.db.pool.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (status, retries, error): (String, Option<i32>, Option<String>) =
                    sqlx::query_as(
                        "SELECT status, retry_count, error_message FROM job_logs WHERE id = $1",
                    )
                    .bind(second)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                if error.as_deref().is_some_and(|e| e.contains(want)) {
                    assert_ne!(status, "failed");
                    assert_eq!(retries.unwrap_or(0), 0, "waiting spends no retry");
                    return error.unwrap();
                }
                assert!(Instant::now() < deadline, "never said {want:?}: {error:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let why = says("gas.mode is delegate").await;
    assert!(
        why.contains("energy pool") && why.contains(&pool.address.to_base58()),
        "{why}"
    );
    // Auto with no burning allowed today: still waiting, saying so.
    set_config(&env.db.pool, "gas.daily_burn_cap_sun", json!(0)).await;
    set_config(&env.db.pool, "gas.mode", json!("auto")).await;
    says("would pass gas.daily_burn_cap_sun").await;
    assert_eq!(env.usdt_of(&b.address).await, 30 * USDT);
    // Within the cap, it burns instead, and its notes say so.
    set_config(&env.db.pool, "gas.daily_burn_cap_sun", json!(1_000 * TRX)).await;
    let (status, error) = env.finished(second, Duration::from_secs(60)).await;
    assert_eq!(status, "completed", "{error:?}");
    env.idle(Duration::from_secs(30)).await;
    engine.stop().await;
    let said = notes(&env.db.pool, second).await;
    assert!(said.contains("burning about"), "{said}");
    assert_eq!(env.usdt_of(&env.treasury).await, 50 * USDT);
    assert_eq!(env.lent_out(&pool).await, 0);
    let burned: i64 = sqlx::query_scalar(
        "SELECT energy_fee_sun FROM transfers WHERE wallet_id = $1 AND kind = 'consolidation-usdt'",
    )
    .bind(b.id)
    .fetch_one(&env.db.pool)
    .await
    .unwrap();
    assert!(burned > 0, "the second sweep burned its energy");
    assert_ledger_adds_up(&env.ledger().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_each_transfer_of_a_delegated_sweep_moves_everything_once_and_lends_nothing() {
    let env = Env::new().await;
    set_config(&env.db.pool, "queue.max_retries", json!(20)).await;
    let pool = env.energy_pool(40_000).await;
    set_config(&env.db.pool, "gas.mode", json!("delegate")).await;
    // Each crash kills the worker at the next transfer of the sweep:
    // the delegation, the USDT transfer, then the reclaim.
    let mut wallets = Vec::new();
    for (i, step) in ["after-sign", "after-broadcast"].into_iter().enumerate() {
        let w = env.deposit(RESERVE, (20 + i as u64) * USDT).await;
        let job = env.enqueue(JobType::Consolidation, &w).await;
        for _ in 0..3 {
            crash_at(&env, step);
        }
        wallets.push((w, job, step));
    }
    let w = env.deposit(RESERVE, 25 * USDT).await;
    let job = env.enqueue(JobType::Consolidation, &w).await;
    crash_at(&env, "before-done");
    wallets.push((w, job, "before-done"));

    let worker = env.worker(2, None, None);
    for (_, job, step) in &wallets {
        let (status, error) = env.finished(*job, Duration::from_secs(90)).await;
        assert_eq!(status, "completed", "{step}: {error:?}");
    }
    env.idle(Duration::from_secs(30)).await;
    reap(worker);
    let ledger = env.ledger().await;
    let mut swept = 0;
    for (w, _, step) in &wallets {
        let usdt = moves(&ledger, "USDT", &w.address, &env.treasury);
        assert_eq!(usdt.len(), 1, "{step}: USDT swept once");
        swept += usdt[0]["amount"].as_u64().unwrap();
        assert_eq!(env.usdt_of(&w.address).await, 0, "{step}");
        // One delegation and one reclaim, never a second of either.
        assert_eq!(
            moves(&ledger, "STAKE", &pool.address, &w.address).len(),
            2,
            "{step}"
        );
        let k = kinds(&env.db.pool, w.id).await;
        for kind in ["energy-delegate", "energy-reclaim", "consolidation-usdt"] {
            assert_eq!(k.get(&once(kind).0), Some(&1), "{step} {kind}: {k:?}");
        }
    }
    assert_eq!(env.usdt_of(&env.treasury).await, swept);
    assert_eq!(env.lent_out(&pool).await, 0, "nothing stays lent");
    assert_ledger_adds_up(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maintenance_takes_back_a_delegation_no_sweep_uses() {
    let env = Env::new().await;
    let pool = env.energy_pool(20_000).await;
    let idle = env.deposit(RESERVE, 0).await;
    // Lent around walletops (or by a job that died before recording it).
    let lend = Contract::DelegateResource {
        owner: pool.address,
        resource: Resource::Energy,
        balance: Sun(500 * TRX),
        receiver: idle.address,
        lock: false,
        lock_period: 0,
    };
    env.send_direct(lend, &pool.key, Sun::ZERO).await;
    assert_eq!(env.lent_out(&pool).await, 500 * TRX);
    let engine = env.engine();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let confirmed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM transfers
              WHERE wallet_id = $1 AND kind = 'energy-reclaim' AND job_id IS NULL
                AND status = 'confirmed'",
        )
        .bind(idle.id)
        .fetch_one(&env.db.pool)
        .await
        .unwrap();
        if confirmed == 1 && env.lent_out(&pool).await == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the delegation was never taken back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.stop().await;
    assert_ledger_adds_up(&env.ledger().await);
}

/// The attacker holds a compromised worker host: the database, and the
/// secret that lets it ask `walletops signer` for signatures, but not the
/// master key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_compromised_worker_cannot_lend_the_pools_energy_to_an_attacker() {
    let env = Env::new().await;
    let pool = env.energy_pool(20_000).await;
    let signer = env.signer_proc("127.0.0.1:0");
    let remote = RemoteSigner::connect(
        signer.url.clone(),
        SharedSecret::from_file(&signer.secret_file).unwrap(),
    )
    .await
    .unwrap();
    let victim = env.deposit(RESERVE, 0).await;
    let attacker = random_key().address();
    let (pool_id, _) = walletops::wallets::lookup::activation(&env.db.pool, &pool.address)
        .await
        .unwrap()
        .unwrap();
    let sealed = |id: Uuid| {
        let pool = env.db.pool.clone();
        async move {
            let (address, key) = wallets::stored_key(&pool, id).await.unwrap();
            SealedWallet {
                wallet_id: id,
                address: address.parse().unwrap(),
                ciphertext: key.ciphertext,
                nonce: key.nonce,
            }
        }
    };
    let reference = env.client.now_block().await.unwrap();
    let request = |receiver: Address, lock: bool, resource: Resource, recipient: SealedWallet| {
        let raw = RawTransaction::new(
            Contract::DelegateResource {
                owner: pool.address,
                resource,
                balance: Sun(1_000 * TRX),
                receiver,
                lock,
                lock_period: if lock { 100 } else { 0 },
            },
            &reference,
            chrono::Utc::now().timestamp_millis(),
            Duration::from_secs(60),
            Sun::ZERO,
        );
        SignRequest {
            kind: TransferKind::EnergyDelegate,
            asset: Asset::Trx,
            from: pool.address,
            to: receiver,
            amount: 1_000 * TRX,
            wallet_id: recipient.wallet_id,
            sender: SealedWallet {
                wallet_id: pool_id,
                ..recipient.clone()
            },
            recipient: Some(recipient),
            topup_need: None,
            raw: raw.encode(),
        }
    };
    let pool_key = sealed(pool_id).await;
    let victim_key = sealed(victim.id).await;
    let with_sender = |mut req: SignRequest| {
        req.sender = pool_key.clone();
        req
    };
    let mut forged = victim_key.clone();
    forged.address = attacker;
    let cases = [
        // To the attacker, claiming the victim's key, or the attacker's row.
        (
            attacker,
            false,
            Resource::Energy,
            victim_key.clone(),
            "recipient",
        ),
        (attacker, false, Resource::Energy, forged, "recipient"),
        // Locked (it could not be taken back), or bandwidth, to a real
        // deposit wallet.
        (
            victim.address,
            true,
            Resource::Energy,
            victim_key.clone(),
            "delegation",
        ),
        (
            victim.address,
            false,
            Resource::Bandwidth,
            victim_key.clone(),
            "delegation",
        ),
        // To the treasury: no deposit wallet.
        (
            env.treasury,
            false,
            Resource::Energy,
            victim_key.clone(),
            "recipient",
        ),
    ];
    for (receiver, lock, resource, recipient, rule) in cases {
        match remote
            .sign(&with_sender(request(receiver, lock, resource, recipient)))
            .await
        {
            Err(SignError::Refused(r)) => assert_eq!(r.rule.as_str(), rule, "{r}"),
            other => panic!("{receiver} {lock} {resource:?} signed: {other:?}"),
        }
    }
    // The honest request signs: the refusals were the rules, not a broken signer.
    remote
        .sign(&with_sender(request(
            victim.address,
            false,
            Resource::Energy,
            victim_key,
        )))
        .await
        .expect("a delegation to our own deposit wallet signs");
    assert_eq!(env.lent_out(&pool).await, 0, "nothing was broadcast");
    reap(signer.child);
}

impl Env {
    /// `walletops energy stake ARGS` as the workers' login with `token`;
    /// (exit code, stdout, stderr). A SIGKILL is exit code `None`.
    fn stake_cli(&self, token: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
        let mut cmd = common::walletops();
        cmd.env("DATABASE_URL", self.worker_login.url.expose())
            .env("TRON_API_URL", self.sim.url().as_str())
            .env("WALLET_MASTER_KEY", &self.master_hex)
            .env("WALLETOPS_POLICY", self.policy_file())
            .env("WALLETOPS_LOG", "walletops=info")
            .args(["energy", "stake"])
            .args(args)
            .args(["--tron-requests-per-second", "0", "--chain-poll-ms", "100"]);
        if let Some(t) = token {
            cmd.env("WALLETOPS_TOKEN", t);
        }
        let out = cmd.output().expect("run walletops energy stake");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Stake records, stake audit rows, and SUN staked for energy on chain.
    async fn stakes(&self, pool: &Address) -> (i64, i64, u64) {
        let records: i64 =
            sqlx::query_scalar("SELECT count(*) FROM transfers WHERE kind = 'energy-stake'")
                .fetch_one(&self.db.pool)
                .await
                .unwrap();
        let audited: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM admin_actions WHERE action_type = 'energy.stake'",
        )
        .fetch_one(&self.db.pool)
        .await
        .unwrap();
        let staked = self.client.stake_v2(pool).await.unwrap();
        (
            records,
            audited,
            staked.frozen.energy.0 + staked.delegated_out.energy.0,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn energy_stake_refuses_bad_input_stakes_once_as_an_audited_admin_and_survives_sigkill() {
    let env = Env::new().await;
    let admin =
        common::admin::operator(&env.db, "admin@example.com", walletops::admin::Role::Admin).await;
    let token = walletops::admin::tokens::create(
        &admin.pool,
        &admin,
        walletops::admin::Role::Admin,
        "stake",
        None,
    )
    .await
    .unwrap()
    .token;
    let token = Some(token.expose());
    // No energy wallet yet.
    let (code, _, err) = env.stake_cli(token, &["100"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no active energy wallet"), "{err}");
    let pool = env.energy_pool(0).await;
    env.fund(&pool.address, 10_000 * TRX, 0).await;
    for (amount, says) in [
        ("0", "stake at least 1.000000 TRX"),
        ("abc", "not an amount of TRX"),
        ("-5", "unexpected argument"),
        ("1.0000001", "not an amount of TRX"),
        ("20000", "less than the 20,000.000000 TRX to stake"),
    ] {
        let (code, _, err) = env.stake_cli(token, &[amount]);
        assert_ne!(code, Some(0), "{amount}");
        assert!(err.contains(says), "{amount}: {err}");
    }
    // The workers' login alone is no admin.
    let (code, _, err) = env.stake_cli(None, &["100"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("is not an operator"), "{err}");
    assert_eq!(
        env.stakes(&pool.address).await,
        (0, 0, 0),
        "nothing changed"
    );

    let (code, out, err) = env.stake_cli(token, &["1000"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("stake of 1,000.000000 TRX") && out.contains("confirmed"),
        "{out}"
    );
    assert_eq!(env.stakes(&pool.address).await, (1, 1, 1_000 * TRX));
    let details: Value =
        sqlx::query_scalar("SELECT details FROM admin_actions WHERE action_type = 'energy.stake'")
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
    assert_eq!(details["actor"]["token_name"], "stake", "{details}");
    assert_eq!(details["amount_sun"], 1_000 * TRX, "{details}");

    // Killed once signed and recorded: the next command lands that stake
    // and stakes nothing new.
    let (code, _, _) = env.stake_cli(token, &["500", "--test-crash-at", "after-sign"]);
    assert_eq!(code, None, "killed");
    assert_eq!(env.stakes(&pool.address).await, (2, 2, 1_000 * TRX));
    let (code, out, err) = env.stake_cli(token, &["500"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("Nothing new was staked") && out.contains("confirmed"),
        "{out}"
    );
    assert_eq!(env.stakes(&pool.address).await, (2, 2, 1_500 * TRX));
    // Bandwidth for the pool's own delegations and reclaims.
    let (code, out, err) = env.stake_cli(token, &["100", "--resource", "bandwidth"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let staked = env.client.stake_v2(&pool.address).await.unwrap();
    assert_eq!(staked.frozen.bandwidth, Sun(100 * TRX));
    assert_eq!(env.stakes(&pool.address).await, (3, 3, 1_500 * TRX));

    let status = common::walletops()
        .env("DATABASE_URL", env.db.url.expose())
        .env("TRON_API_URL", env.sim.url().as_str())
        .args(["energy", "status", "--json"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["energy_wallet"], pool.address.to_base58());
    assert_eq!(status["staked_sun"], 1_500 * TRX);
    assert!(
        status["energy_limit"].as_u64().unwrap() > 10_000,
        "{status}"
    );
    // 1,500 TRX gives about 14,000 energy: no whole sweep of the assumed
    // 65,000 energy plus the 10 % margin.
    assert_eq!(status["sweep_energy"], 71_500, "{status}");
    assert_eq!(status["sweeps_covered"], 0, "{status}");
    assert_eq!(status["delegations"], json!([]));
    // The pool's bandwidth, staked and free, in delegate+reclaim pairs.
    let resource = env
        .client
        .get_account_resource(&pool.address)
        .await
        .unwrap();
    assert!(resource.net_limit > 0, "{resource:?}");
    // Free bandwidth recovers between the two readings; staked is unused.
    let bandwidth = status["bandwidth_available"].as_u64().unwrap();
    let staked = resource.staked_net_available();
    assert!(
        (staked..=staked + resource.free_net_limit).contains(&bandwidth),
        "{status} {resource:?}"
    );
    let pair = status["pair_bytes"].as_u64().unwrap();
    assert!((500..=700).contains(&pair), "{status}");
    assert_eq!(status["staked_bandwidth_sun"], 100 * TRX, "{status}");
    assert_eq!(status["pairs_covered"], bandwidth / pair, "{status}");
    assert_ledger_adds_up(&env.ledger().await);
}
