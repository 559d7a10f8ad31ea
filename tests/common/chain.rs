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
