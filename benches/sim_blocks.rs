//! How the simulator holds up under a chain follower's benchmark: blocks of
//! thousands of transactions made by the load generator (signed, executed,
//! solidified), reads of them over HTTP (`getblockbynum`,
//! `gettransactioninfobyblocknum`, `getblockbylimitnext`, as JSON and as the
//! client's types), memory per transaction kept, and a chain of tens of
//! thousands of blocks. Prints one line per figure.
//!
//! `cargo bench --bench sim_blocks`

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use walletops::sim::{SimConfig, SimHandle, Simulator};
use walletops::tron::client::{ClientConfig, TronClient, View};

const TXS_PER_BLOCK: u32 = 2_000;
const FULL_BLOCKS: u64 = 40;
const LONG_CHAIN: u64 = 20_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn client(url: url::Url) -> TronClient {
    let mut config = ClientConfig::new(url);
    config.requests_per_second = None;
    config.timeout = Duration::from_secs(120);
    TronClient::new(config).unwrap()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn head(client: &TronClient) -> u64 {
    client.block(View::Head).await.unwrap().number
}

fn main() {
    walletops::tron::client::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        full_blocks().await;
        long_chain().await;
    });
}

/// A simulator making blocks as fast as it can.
async fn spawn() -> SimHandle {
    Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(1),
        solidify_blocks: 19,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn full_blocks() {
    let sim = spawn().await;
    let http = reqwest::Client::new();
    let client = client(sim.url().clone());
    let url = |p: &str| sim.url().join(p).unwrap();
    let rss_before = rss_kib();
    let started = Instant::now();
    let r = http
        .post(url("/sim/deposits"))
        .json(&json!({
            "trx": TXS_PER_BLOCK / 8, "usdt": TXS_PER_BLOCK / 8,
            "strangers": TXS_PER_BLOCK * 3 / 4, "blocks": FULL_BLOCKS,
            "targets": {"seeded": {"seed": 1, "count": 1_000_000}},
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    loop {
        let v: Value = http
            .get(url("/sim/deposits?from=0&to=1"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["generator"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let made = started.elapsed();
    let txs = FULL_BLOCKS * u64::from(TXS_PER_BLOCK);
    println!(
        "production: {FULL_BLOCKS} blocks of {TXS_PER_BLOCK} signed transactions in {:.2} s: {:.0} ms per block, {:.0} transactions/s",
        made.as_secs_f64(),
        made.as_secs_f64() * 1000.0 / FULL_BLOCKS as f64,
        txs as f64 / made.as_secs_f64()
    );
    let rss = rss_kib().saturating_sub(rss_before);
    println!(
        "memory: {} MiB more for {txs} transactions kept, {} bytes per transaction (state, blocks and index included)",
        rss / 1024,
        rss * 1024 / txs
    );

    // The blocks with the load: the newest FULL_BLOCKS with transactions.
    let top = head(&client).await;
    let full: Vec<u64> = {
        let mut n = Vec::new();
        let mut b = top;
        while n.len() < FULL_BLOCKS as usize && b > 0 {
            if !client
                .block_by_num(b, View::Head)
                .await
                .unwrap()
                .transactions
                .is_empty()
            {
                n.push(b);
            }
            b -= 1;
        }
        n
    };
    let (mut json_ms, mut typed_ms, mut infos_ms, mut bytes) = (vec![], vec![], vec![], 0);
    for n in full.iter().take(20) {
        let t = Instant::now();
        let body = http
            .post(url("/wallet/getblockbynum"))
            .json(&json!({"num": n}))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        json_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
        let t = Instant::now();
        let block = client.block_by_num(*n, View::Head).await.unwrap();
        typed_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(block.transactions.len(), TXS_PER_BLOCK as usize);
        let t = Instant::now();
        let infos = client
            .transaction_infos_by_block(*n, View::Head)
            .await
            .unwrap();
        infos_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(infos.len(), TXS_PER_BLOCK as usize);
    }
    println!(
        "getblockbynum, {TXS_PER_BLOCK} transactions ({} KiB of JSON): p50 {:.1} ms, max {:.1} ms over HTTP; parsed into the client's types p50 {:.1} ms",
        bytes / 1024,
        percentile(&mut json_ms.clone(), 0.5),
        percentile(&mut json_ms, 1.0),
        percentile(&mut typed_ms, 0.5)
    );
    println!(
        "gettransactioninfobyblocknum, {TXS_PER_BLOCK} receipts, parsed: p50 {:.1} ms",
        percentile(&mut infos_ms, 0.5)
    );
    let oldest = *full.iter().min().unwrap();
    let t = Instant::now();
    let range = client
        .blocks(oldest..oldest + 10, View::Head)
        .await
        .unwrap();
    let range_txs: usize = range.iter().map(|b| b.transactions.len()).sum();
    println!(
        "getblockbylimitnext, 10 blocks with {range_txs} transactions, parsed: {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
}

async fn long_chain() {
    let sim = spawn().await;
    let client = client(sim.url().clone());
    let started = Instant::now();
    while head(&client).await < LONG_CHAIN {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = started.elapsed();
    let top = head(&client).await;
    let mut ms = Vec::new();
    for n in [1, top / 2, top - 1, 2, top / 3] {
        let t = Instant::now();
        client.block_by_num(n, View::Head).await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "long chain: {top} blocks in {:.1} s ({:.0} blocks/s); getblockbynum anywhere in it p50 {:.2} ms",
        made.as_secs_f64(),
        top as f64 / made.as_secs_f64(),
        percentile(&mut ms, 0.5)
    );
}
