//! What the tests against the TRON simulator share: deterministic keys, the
//! clock the transactions are stamped with, a client without rate limits,
//! and polling for what the chain does in the background.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use walletops::tron::client::{ClientConfig, TronClient};
use walletops::tron::tx::{Contract, RawTransaction, SignedTransaction};
use walletops::tron::{PrivateKey, Sun};

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
