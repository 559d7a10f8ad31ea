//! The chain follower (issue 16) end to end: real `walletops worker`
//! processes against a real PostgreSQL and the simulator's blocks, with its
//! load generator landing deposits to our wallets among transfers between
//! strangers. Every check compares with the simulator's ledger: each
//! transfer to one of our wallets is recorded once, nothing else is.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use walletops::policy::Policy;
use walletops::queue::{self, JobType, NewJob};
use walletops::sim::{SimConfig, SimHandle, Simulator};
use walletops::tron::{Address, MAINNET_USDT, PrivateKey};

struct Env {
    db: common::TestDb,
    dir: tempfile::TempDir,
    worker_login: common::admin::LoginRole,
    sim: SimHandle,
    http: reqwest::Client,
    master_hex: String,
    /// Our deposit wallets: (id, address).
    wallets: Vec<(Uuid, Address)>,
}

fn random_address() -> Address {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    b[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    PrivateKey::from_bytes(&b).unwrap().address()
}

impl Env {
    /// A database with `wallets` deposit wallets, the follower switched on,
    /// and a simulator producing a block every `block_ms` that solidifies
    /// after `solidify` more.
    async fn new(wallets: usize, block_ms: u64, solidify: u64) -> Self {
        walletops::tron::client::install_crypto_provider();
        let db = common::fresh_db().await;
        let sim = Simulator::spawn(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            block_interval: Duration::from_millis(block_ms),
            solidify_blocks: solidify,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let addresses: Vec<Address> = (0..wallets).map(|_| random_address()).collect();
        let mut tx = db.pool.begin().await.unwrap();
        sqlx::query("SELECT walletops_act_owner()")
            .execute(&mut *tx)
            .await
            .unwrap();
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO user_wallets (address) SELECT unnest($1::text[]) RETURNING id",
        )
        .bind(addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        common::admin::set_config(&db.pool, "deposits.enabled", json!(true)).await;
        let worker_login = common::admin::LoginRole::create(&db.url, "walletops_worker").await;
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            worker_login,
            db,
            sim,
            http: reqwest::Client::new(),
            master_hex: format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
            wallets: ids.into_iter().zip(addresses).collect(),
        };
        let usdt: Address = MAINNET_USDT.parse().unwrap();
        std::fs::write(
            env.dir.path().join("policy.toml"),
            Policy::starting_text(random_address(), random_address(), usdt),
        )
        .unwrap();
        env
    }

    /// A `walletops worker` process; `extra` flags after the defaults.
    fn worker(&self, extra: &[&str], log: &str) -> Child {
        let mut cmd = common::walletops();
        cmd.env("DATABASE_URL", self.worker_login.url.expose())
            .env("TRON_API_URL", self.sim.url().as_str())
            .env("WALLET_MASTER_KEY", &self.master_hex)
            .env("WALLETOPS_POLICY", self.dir.path().join("policy.toml"))
            .env("WALLETOPS_LOG", "walletops=info")
            .args(["worker", "--concurrency", "2", "--grace-seconds", "2"])
            .args(["--chain-poll-ms", "50"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join(log)).unwrap(),
            ))
            .spawn()
            .expect("start walletops worker")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    async fn sim_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.sim.url().join(path).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn sim_get(&self, path: &str) -> Value {
        self.http
            .get(self.sim.url().join(path).unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Deposits to our wallets for `blocks` blocks, among stranger traffic.
    async fn load(&self, trx: u32, usdt: u32, strangers: u32, blocks: u64) {
        let targets: Vec<String> = self.wallets.iter().map(|(_, a)| a.to_string()).collect();
        self.sim_post(
            "/sim/deposits",
            json!({"trx": trx, "usdt": usdt, "strangers": strangers,
                   "targets": {"addresses": targets}, "blocks": blocks}),
        )
        .await;
    }

    /// The follower's cursor.
    async fn cursor(&self) -> Option<i64> {
        sqlx::query_scalar("SELECT block_number FROM deposit_follower")
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    async fn wait_cursor(&self, at_least: i64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.cursor().await.is_none_or(|c| c < at_least) {
            assert!(
                Instant::now() < deadline,
                "cursor {:?} did not reach {at_least}",
                self.cursor().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The transfers the ledger shows to or from our wallets, solidified
    /// or not, from block `from` on: (txid, asset, direction) -> count.
    async fn ledger_transfers(&self, from: i64) -> BTreeMap<(String, String, String), usize> {
        let ours: HashSet<String> = self.wallets.iter().map(|(_, a)| a.to_string()).collect();
        let ledger = self.sim_get("/sim/ledger").await;
        let mut out = BTreeMap::new();
        for t in ledger["transactions"].as_array().unwrap() {
            if t["block"].as_i64().unwrap_or(0) < from {
                continue;
            }
            let asset = t["asset"].as_str().unwrap_or("").to_lowercase();
            if asset != "trx" && asset != "usdt" {
                continue;
            }
            for (field, direction) in [("to", "in"), ("from", "out")] {
                if t[field].as_str().is_some_and(|a| ours.contains(a)) {
                    *out.entry((
                        t["txid"].as_str().unwrap().to_string(),
                        asset.clone(),
                        direction.to_string(),
                    ))
                    .or_default() += 1;
                }
            }
        }
        out
    }

    /// The rows recorded, the same way.
    async fn recorded(&self) -> BTreeMap<(String, String, String), usize> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT tx_id, asset, direction FROM wallet_transactions")
                .fetch_all(&self.db.pool)
                .await
                .unwrap();
        let mut out = BTreeMap::new();
        for r in rows {
            *out.entry(r).or_default() += 1;
        }
        out
    }

    async fn solid_number(&self) -> i64 {
        let client = common::chain::client(self.sim.url().clone());
        client
            .block(walletops::tron::client::View::Solidified)
            .await
            .unwrap()
            .number as i64
    }

    /// Waits until every ledger transfer from `from` up to the block the
    /// load generator last used is recorded, then compares exactly.
    async fn assert_all_recorded_once(&self, from: i64, limit: Duration) {
        // The load generator's last block first.
        let deadline = Instant::now() + limit;
        loop {
            let g = self.sim_get("/sim/deposits").await;
            if g["generator"].is_null() || g["generator"]["blocks_left"] == json!(0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the load generator still runs: {g}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ledger = self.sim_get("/sim/ledger").await;
        let last = ledger["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["block"].as_i64())
            .max()
            .unwrap();
        self.wait_cursor(last, limit).await;
        let expected = self.ledger_transfers(from).await;
        assert!(!expected.is_empty(), "the load generator made deposits");
        assert_eq!(self.recorded().await, expected);
    }

    async fn stop(self, workers: Vec<Child>) {
        for mut w in workers {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(w.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = w.wait();
        }
        self.worker_login.drop_role().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_deposit_is_recorded_once_strangers_are_ignored_and_a_sync_agrees() {
    let env = Env::new(5, 100, 3).await;
    let worker = env.worker(&["--tron-requests-per-second", "0"], "worker.log");
    env.wait_cursor(0, Duration::from_secs(30)).await;
    let start = env.cursor().await.unwrap() + 1;
    env.load(2, 2, 6, 15).await;
    env.assert_all_recorded_once(start, Duration::from_secs(60))
        .await;
    let stale: i64 =
        common::admin::count(&env.db.pool, "SELECT count(*) FROM stale_balances").await;
    assert!(stale > 0, "deposits make balances stale");

    // A sync of a wallet lists the same transfers from the indexer: it
    // stores none again and reports no disagreement.
    let before = env.recorded().await;
    let (id, address) = env.wallets[0];
    let mut conn = env.db.pool.acquire().await.unwrap();
    let job = queue::enqueue(
        &mut conn,
        &NewJob {
            job_type: JobType::Sync,
            wallet_address: Some(address.to_string()),
            wallet_id: Some(id),
            user_id: None,
            data: json!({}),
            priority: 0,
            run_at: None,
        },
    )
    .await
    .unwrap()
    .job
    .id;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM job_logs WHERE id = $1")
            .bind(job)
            .fetch_one(&env.db.pool)
            .await
            .unwrap();
        if status == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline && status != "failed",
            "sync {status}: {}",
            env.log("worker.log")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = env.recorded().await;
    // The follower may have recorded blocks after the load in between: none
    // of ours (the generator stopped), so nothing changes.
    assert_eq!(after, before, "the sync found nothing new");
    let missed: i64 =
        common::admin::count(&env.db.pool, "SELECT missed_count FROM deposit_follower").await;
    assert_eq!(missed, 0);
    assert!(
        !sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM stale_balances WHERE wallet_id = $1)"
        )
        .bind(id)
        .fetch_one(&env.db.pool)
        .await
        .unwrap(),
        "the sync refreshed the balance"
    );
    env.stop(vec![worker]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_killed_mid_block_is_replaced_and_nothing_is_lost_or_doubled() {
    let env = Env::new(4, 100, 3).await;
    let mut doomed = env.worker(
        &[
            "--tron-requests-per-second",
            "0",
            "--test-crash-at",
            "follower-mid-block",
        ],
        "doomed.log",
    );
    env.wait_cursor(0, Duration::from_secs(30)).await;
    let start = env.cursor().await.unwrap() + 1;
    env.load(1, 1, 4, 10).await;
    let status = tokio::task::spawn_blocking(move || doomed.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "killed at the first block with deposits"
    );
    let killed_at = env.cursor().await.unwrap();
    assert!(
        killed_at < start + 10,
        "the block it died in is not recorded"
    );
    // Its replacement takes over once the lease runs out and carries on.
    let t0 = Instant::now();
    let heir = env.worker(&["--tron-requests-per-second", "0"], "heir.log");
    env.wait_cursor(killed_at + 1, Duration::from_secs(30))
        .await;
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took over in {:?}",
        t0.elapsed()
    );
    env.assert_all_recorded_once(start, Duration::from_secs(60))
        .await;
    env.stop(vec![heir]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catch_up_of_thousands_of_blocks_keeps_to_the_request_rate() {
    // A block every 2 ms: thousands pile up in seconds while no worker runs.
    let env = Env::new(3, 2, 3).await;
    let first = env.worker(&["--tron-requests-per-second", "0"], "first.log");
    env.wait_cursor(0, Duration::from_secs(30)).await;
    env.stop_one(first);
    let stopped_at = env.cursor().await.unwrap();
    let target = stopped_at + 3000;
    while env.solid_number().await < target {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = env.sim_get("/sim/stats").await["total"].as_u64().unwrap();
    let t0 = Instant::now();
    let rate = 20.0;
    let heir = env.worker(&["--tron-requests-per-second", "20"], "heir.log");
    env.wait_cursor(target, Duration::from_secs(120)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let requests = env.sim_get("/sim/stats").await["total"].as_u64().unwrap() - before;
    // Besides the follower the worker reads nothing from the node here; the
    // bucket allows a burst of one second's worth.
    assert!(
        requests as f64 <= rate * elapsed + rate + 2.0,
        "{requests} requests in {elapsed:.1} s at {rate}/s"
    );
    assert!(requests >= 30, "3000 blocks need 30 ranges at least");
    println!("caught up 3000+ blocks in {elapsed:.1} s with {requests} requests");
    env.stop(vec![heir]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gap_the_node_pruned_is_reported_not_skipped_silently() {
    let env = Env::new(2, 20, 3).await;
    let first = env.worker(&["--tron-requests-per-second", "0"], "first.log");
    env.wait_cursor(0, Duration::from_secs(30)).await;
    env.stop_one(first);
    let stopped_at = env.cursor().await.unwrap();
    while env.solid_number().await < stopped_at + 200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let below = stopped_at + 100;
    env.sim_post("/sim/prune", json!({ "below": below })).await;
    let heir = env.worker(&["--tron-requests-per-second", "0"], "heir.log");
    env.wait_cursor(stopped_at + 200, Duration::from_secs(30))
        .await;
    let out = common::walletops()
        .env("DATABASE_URL", env.db.url.expose())
        .args(["deposits", "status", "--json"])
        .output()
        .unwrap();
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["gap"]["from"], json!(stopped_at + 1), "{state}");
    assert!(state["gap"]["to"].as_i64().unwrap() >= below, "{state}");
    let status = common::walletops()
        .env("DATABASE_URL", env.db.url.expose())
        .args(["status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!("deposits: blocks {}..=", stopped_at + 1))
            && text.contains("walletops deposits rescan --from"),
        "{text}"
    );
    // A rescan against this node cannot read the pruned blocks: it says so
    // and changes nothing.
    let rescan = common::walletops()
        .env("DATABASE_URL", env.db.url.expose())
        .env("TRON_API_URL", env.sim.url().as_str())
        .args([
            "deposits",
            "rescan",
            "--from",
            &(stopped_at + 1).to_string(),
        ])
        .args(["--to", &(below - 1).to_string()])
        .output()
        .unwrap();
    assert!(!rescan.status.success());
    let err = String::from_utf8_lossy(&rescan.stderr);
    assert!(err.contains("has no block"), "{err}");
    // Bad input: a clear line, nothing read.
    let backwards = common::walletops()
        .env("DATABASE_URL", env.db.url.expose())
        .env("TRON_API_URL", env.sim.url().as_str())
        .args(["deposits", "rescan", "--from", "10", "--to", "5"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&backwards.stderr).contains("--from 10 is after --to 5"),
        "{backwards:?}"
    );
    env.stop(vec![heir]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fork_before_solidification_corrects_what_was_shown_as_pending() {
    // Slow solidification: the pending view has time to see the fork.
    let env = Env::new(3, 100, 30).await;
    common::admin::set_config(&env.db.pool, "deposits.show_unconfirmed", json!(true)).await;
    let worker = env.worker(&["--tron-requests-per-second", "0"], "worker.log");
    env.wait_cursor(0, Duration::from_secs(30)).await;
    // Room above the solidified head for a deep fork.
    while env.sim_get("/sim/deposits").await["head_block"]
        .as_i64()
        .unwrap()
        < 32
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = env.cursor().await.unwrap() + 1;
    env.load(2, 1, 3, 8).await;
    // Pending deposits appear from the head.
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::admin::count(&env.db.pool, "SELECT count(*) FROM pending_deposits").await < 6 {
        assert!(Instant::now() < deadline, "{}", env.log("worker.log"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every transaction of the newest blocks vanishes in a reorganisation.
    let g = env.sim_get("/sim/deposits").await;
    let open = g["head_block"].as_u64().unwrap() - g["solid_block"].as_u64().unwrap();
    let fork = env
        .sim_post("/sim/fork", json!({"depth": open.min(12), "vanish": 1.0}))
        .await;
    println!("fork: {fork}");
    // What is shown again matches the chain: each pending row's block
    // hash is the block's current one, and no vanished transfer is shown.
    let client = common::chain::client(env.sim.url().clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT block_number, block_hash, tx_id FROM pending_deposits")
                .fetch_all(&env.db.pool)
                .await
                .unwrap();
        let live: HashSet<String> = env
            .ledger_transfers(start)
            .await
            .into_keys()
            .map(|k| k.0)
            .collect();
        let mut agree = true;
        for (n, hash, tx) in &rows {
            let block = client
                .block_by_num(*n as u64, walletops::tron::client::View::Head)
                .await;
            agree &= block.is_ok_and(|b| b.id.to_hex() == *hash) && live.contains(tx);
        }
        if agree {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pending rows still show the old fork"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Once solidified, exactly what the chain kept is recorded.
    env.assert_all_recorded_once(start, Duration::from_secs(90))
        .await;
    env.stop(vec![worker]).await;
}

impl Env {
    /// Stops a worker with SIGTERM (it gives its lease up on the way out).
    fn stop_one(&self, mut w: Child) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(w.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        w.wait().unwrap();
    }
}
