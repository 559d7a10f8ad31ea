//! What the tests against the TRON simulator share: deterministic keys, the
//! clock the transactions are stamped with, a client without rate limits,
//! and polling for what the chain does in the background.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use walletops::tron::client::{ClientConfig, TronClient, View};
use walletops::tron::tx::{Contract, RawTransaction, SignedTransaction};
use walletops::tron::{Address, PrivateKey, Sun};

/// A deterministic key per test participant.
pub fn key(n: u8) -> PrivateKey {
    let mut b = [0x11u8; 32];
    b[31] = n;
    PrivateKey::from_bytes(&b).unwrap()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A client for the simulator at `url`: no rate limit, a short timeout.
pub fn client(url: url::Url) -> TronClient {
    let mut config = ClientConfig::new(url);
    config.requests_per_second = None;
    config.timeout = Duration::from_secs(5);
    TronClient::new(config).unwrap()
}

/// `contract` signed by `key`, referring to the head block and expiring
/// 60 s after it.
pub async fn sign(
    client: &TronClient,
    contract: Contract,
    fee_limit: Sun,
    key: &PrivateKey,
) -> SignedTransaction {
    let reference = client.now_block().await.unwrap();
    RawTransaction::new(
        contract,
        &reference,
        now_ms(),
        Duration::from_secs(60),
        fee_limit,
    )
    .sign(key)
}

/// Polls until `f` gives `Some`, for at most 10 s.
pub async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Adds to an account's balances on the simulator at `url` (`/sim/fund`).
pub async fn fund(url: &url::Url, addr: &Address, trx_sun: u64, usdt: u64) {
    let v: serde_json::Value = reqwest::Client::new()
        .post(url.join("/sim/fund").unwrap())
        .json(&json!({"address": addr, "trx_sun": trx_sun, "usdt": usdt}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("error").is_none(), "{v}");
}

/// Signs, broadcasts and waits until the receipt exists, which must say
/// success.
pub async fn land(client: &TronClient, from: &PrivateKey, contract: Contract, fee_limit: Sun) {
    let reference = client.now_block().await.unwrap();
    let tx = RawTransaction::new(
        contract,
        &reference,
        now_ms(),
        Duration::from_secs(60),
        fee_limit,
    )
    .sign(from);
    client.broadcast(&tx).await.unwrap();
    let info = eventually(|| async {
        client
            .transaction_info(&tx.txid(), View::Head)
            .await
            .unwrap()
    })
    .await;
    assert!(info.succeeded(), "{info:?}");
}

/// A simulator on a free port with 50 ms blocks, solidifying after 2;
/// `config` gives the rest (its `listen`, `block_interval` and
/// `solidify_blocks` are replaced).
pub async fn spawn_fast(config: walletops::sim::SimConfig) -> walletops::sim::SimHandle {
    walletops::sim::Simulator::spawn(walletops::sim::SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(50),
        solidify_blocks: 2,
        ..config
    })
    .await
    .expect("start the simulator")
}

/// POSTs `body` to the simulator's `path`; the answer must be a 2xx JSON.
pub async fn post_json(
    http: &reqwest::Client,
    sim: &walletops::sim::SimHandle,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = http
        .post(sim.url().join(path).unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// A transaction referring to the head block, expiring a minute later.
pub async fn build_on_head(
    client: &TronClient,
    contract: walletops::tron::Contract,
    fee_limit: walletops::tron::Sun,
) -> walletops::tron::RawTransaction {
    let reference = client.now_block().await.unwrap();
    walletops::tron::RawTransaction::new(
        contract,
        &reference,
        now_ms(),
        Duration::from_secs(60),
        fee_limit,
    )
}

/// Waits for the receipt of `txid` at the head.
pub async fn head_receipt(
    client: &TronClient,
    txid: walletops::tron::TxId,
) -> walletops::tron::client::TransactionInfo {
    eventually(|| async {
        client
            .transaction_info(&txid, walletops::tron::client::View::Head)
            .await
            .unwrap()
    })
    .await
}

/// An active permission (id 2) named `name` in which each of `signers` has
/// weight 1 and `threshold` of them may sign the `contract_types` given.
pub fn active_permission(
    name: &str,
    threshold: i64,
    contract_types: &[u64],
    signers: &[&walletops::tron::PrivateKey],
) -> walletops::tron::tx::Permission {
    use walletops::tron::tx::{Permission, PermissionKey, PermissionType};
    let mut operations = vec![0u8; 32];
    for t in contract_types {
        operations[(t / 8) as usize] |= 1 << (t % 8);
    }
    Permission {
        kind: PermissionType::Active,
        id: 2,
        name: name.into(),
        threshold,
        parent_id: 0,
        operations,
        keys: signers
            .iter()
            .map(|k| PermissionKey {
                address: k.address(),
                weight: 1,
            })
            .collect(),
    }
}
