//! The TRON client against the simulator over real HTTP: transactions built
//! and signed by walletops land, tampered ones are refused, fees and
//! balances add up to the unit, duplicates change nothing, and the client
//! survives injected faults.

mod common;

use std::time::Duration;

use common::chain::{eventually, key, now_ms};
use serde_json::{Value, json};
use walletops::sim::{SimConfig, SimHandle, Simulator};
use walletops::tron::client::{
    BroadcastCode, BroadcastOutcome, ClientConfig, ClientError, ErrorClass, ListQuery,
    TransactionInfo, TronClient, View,
};
use walletops::tron::tx::{Contract, RawTransaction, SignedTransaction};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};

const SOLIDIFY: u64 = 3;

struct Fixture {
    sim: SimHandle,
    client: TronClient,
    http: reqwest::Client,
    usdt: Address,
}

async fn fixture() -> Fixture {
    let sim = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(50),
        solidify_blocks: SOLIDIFY,
        ..SimConfig::default()
    })
    .await
    .expect("start the simulator");
    let mut config = ClientConfig::new(sim.url().clone());
    config.backoff_base = Duration::from_millis(5);
    config.backoff_cap = Duration::from_millis(50);
    config.max_retries = 8;
    config.requests_per_second = None;
    config.timeout = Duration::from_secs(5);
    let client = TronClient::new(config).unwrap();
    Fixture {
        sim,
        client,
        http: reqwest::Client::new(),
        usdt: walletops::tron::MAINNET_USDT.parse().unwrap(),
    }
}

impl Fixture {
    async fn sim_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.sim.url().join(path).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn fund(&self, addr: &Address, trx_sun: u64, usdt: u64) {
        let r = self
            .sim_post(
                "/sim/fund",
                json!({"address": addr, "trx_sun": trx_sun, "usdt": usdt}),
            )
            .await;
        assert!(r.status().is_success());
    }

    async fn faults(&self, faults: Value) {
        let r = self.sim_post("/sim/faults", faults).await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
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

    async fn build(&self, contract: Contract, fee_limit: Sun) -> RawTransaction {
        let reference = self.client.now_block().await.unwrap();
        RawTransaction::new(
            contract,
            &reference,
            now_ms(),
            Duration::from_secs(60),
            fee_limit,
        )
    }

    async fn trx(&self, from: &PrivateKey, to: &Address, sun: u64) -> SignedTransaction {
        let c = Contract::Transfer {
            owner: from.address(),
            to: *to,
            amount: Sun(sun),
        };
        self.build(c, Sun::ZERO).await.sign(from)
    }

    async fn usdt(&self, from: &PrivateKey, to: &Address, units: u64) -> SignedTransaction {
        let c = Contract::trc20_transfer(from.address(), self.usdt, *to, TokenUnits(units));
        self.build(c, Sun(100_000_000)).await.sign(from)
    }

    /// Waits for the receipt in `view`.
    async fn receipt(&self, tx: &SignedTransaction, view: View) -> TransactionInfo {
        let txid = tx.txid();
        eventually(|| async { self.client.transaction_info(&txid, view).await.unwrap() }).await
    }
}

fn balance_of(ledger: &Value, addr: &Address, field: &str) -> u64 {
    ledger["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == addr.to_string())
        .map_or(0, |a| a[field].as_u64().unwrap())
}

#[tokio::test]
async fn a_trx_transfer_signed_by_the_client_lands_and_solidifies() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 0).await;
    assert_eq!(f.client.get_account(&bob.address()).await.unwrap(), None);

    let tx = f.trx(&alice, &bob.address(), 2_000_000).await;
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Accepted
    );
    let head = f.receipt(&tx, View::Head).await;
    assert!(head.succeeded());
    // Bob is new: 1 TRX activation burned plus 0.1 TRX bandwidth for creation.
    assert_eq!(head.fee, Sun(1_100_000));
    assert_eq!(head.net_fee, Sun(100_000));

    // Not final until SOLIDIFY blocks are on top of it.
    let solid = f.receipt(&tx, View::Solidified).await;
    assert_eq!(solid, head);
    let solid_head = f.client.block(View::Solidified).await.unwrap();
    assert!(solid_head.number >= head.block_number);

    let record = f
        .client
        .transaction(&tx.txid(), View::Solidified)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.contract_ret.as_deref(), Some("SUCCESS"));
    assert_eq!(record.raw.as_ref(), Some(tx.raw()));

    assert_eq!(
        f.client.trx_balance(&alice.address()).await.unwrap(),
        Sun(10_000_000 - 2_000_000 - 1_100_000)
    );
    let bob_account = f.client.get_account(&bob.address()).await.unwrap().unwrap();
    assert_eq!(bob_account.balance, Sun(2_000_000));

    // Bob pays his first transfer with free bandwidth: no TRX burned.
    let back = f.trx(&bob, &alice.address(), 500_000).await;
    f.client.broadcast(&back).await.unwrap();
    let r = f.receipt(&back, View::Head).await;
    assert_eq!(r.fee, Sun::ZERO);
    assert!(r.net_usage > 0);
    let res = f.client.get_account_resource(&bob.address()).await.unwrap();
    assert_eq!(res.free_net_limit, 600);
    assert_eq!(res.free_net_used, r.net_usage);
}

#[tokio::test]
async fn a_usdt_transfer_burns_energy_and_emits_its_transfer_log() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 50_000_000, 1_000_000).await;

    let params = f.client.chain_parameters().await.unwrap();
    assert_eq!(params.energy_fee, Sun(100));
    assert_eq!(
        params.create_new_account_fee_in_system_contract,
        Sun(1_000_000)
    );

    let estimate = f
        .client
        .estimate_trc20_transfer(
            &alice.address(),
            &f.usdt,
            &bob.address(),
            TokenUnits(400_000),
        )
        .await
        .unwrap();
    assert_eq!(estimate.total(), 130_000, "bob holds no USDT yet");

    let tx = f.usdt(&alice, &bob.address(), 400_000).await;
    f.client.broadcast(&tx).await.unwrap();
    let r = f.receipt(&tx, View::Head).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.receipt_result.as_deref(), Some("SUCCESS"));
    assert_eq!(r.energy_usage_total, 130_000);
    assert_eq!(r.energy_fee, Sun(13_000_000));
    let logs = r.trc20_transfers(&f.usdt);
    assert_eq!(logs.len(), 1);
    assert_eq!(
        (logs[0].from, logs[0].to, logs[0].amount),
        (alice.address(), bob.address(), TokenUnits(400_000))
    );
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &bob.address())
            .await
            .unwrap(),
        TokenUnits(400_000)
    );
    // A USDT transfer does not activate the recipient.
    assert_eq!(f.client.get_account(&bob.address()).await.unwrap(), None);

    // Bob now holds USDT: half the energy.
    let estimate = f
        .client
        .estimate_trc20_transfer(&alice.address(), &f.usdt, &bob.address(), TokenUnits(1))
        .await
        .unwrap();
    assert_eq!(estimate.total(), 65_000);
    let again = f.usdt(&alice, &bob.address(), 100_000).await;
    f.client.broadcast(&again).await.unwrap();
    assert_eq!(
        f.receipt(&again, View::Head).await.energy_fee,
        Sun(6_500_000)
    );

    // More than she has: the estimate reverts, and so does the mined call,
    // which burns its fee and moves nothing.
    let err = f
        .client
        .estimate_trc20_transfer(
            &alice.address(),
            &f.usdt,
            &bob.address(),
            TokenUnits(10_000_000),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Reverted(_)), "{err}");
    assert_eq!(err.class(), ErrorClass::Final);
    let too_much = f.usdt(&alice, &bob.address(), 10_000_000).await;
    f.client.broadcast(&too_much).await.unwrap();
    let r = f.receipt(&too_much, View::Head).await;
    assert!(!r.succeeded());
    assert_eq!(r.receipt_result.as_deref(), Some("REVERT"));
    assert!(r.fee > Sun::ZERO);
    assert!(r.trc20_transfers(&f.usdt).is_empty());
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &alice.address())
            .await
            .unwrap(),
        TokenUnits(500_000)
    );

    // A fee limit below the energy cost: mined OUT_OF_ENERGY, limit burned.
    let c = Contract::trc20_transfer(alice.address(), f.usdt, bob.address(), TokenUnits(1));
    let starved = f.build(c, Sun(1_000_000)).await.sign(&alice);
    f.client.broadcast(&starved).await.unwrap();
    let r = f.receipt(&starved, View::Head).await;
    assert_eq!(r.receipt_result.as_deref(), Some("OUT_OF_ENERGY"));
    assert_eq!(r.energy_fee, Sun(1_000_000));
}

#[tokio::test]
async fn tampered_foreign_and_missing_signatures_are_refused_and_change_nothing() {
    let f = fixture().await;
    let (alice, mallory) = (key(1), key(9));
    f.fund(&alice.address(), 10_000_000, 0).await;
    let before = f.ledger().await;

    let honest = f.trx(&alice, &mallory.address(), 1_000_000).await;
    // Same signature over a raw with a larger amount.
    let mut raw = honest.raw().clone();
    raw.contract = Contract::Transfer {
        owner: alice.address(),
        to: mallory.address(),
        amount: Sun(9_000_000),
    };
    let tampered = tx_bytes(&raw.encode(), &[&honest.signatures()[0]]);
    // Mallory signs a transfer out of Alice's account.
    let foreign = tx_bytes(
        honest.raw_bytes(),
        &[&honest.raw().sign(&mallory).signatures()[0]],
    );
    let unsigned = tx_bytes(honest.raw_bytes(), &[]);
    for bytes in [tampered, foreign, unsigned] {
        let tx = SignedTransaction::decode(&bytes).unwrap();
        let err = f.client.broadcast(&tx).await.unwrap_err();
        match &err {
            ClientError::Rejected { code, message } => {
                assert_eq!(*code, BroadcastCode::SigError);
                assert!(message.contains("signature"), "{message}");
            }
            other => panic!("expected SIGERROR, got {other}"),
        }
        assert_eq!(err.class(), ErrorClass::Final);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = f.ledger().await;
    assert_eq!(before["accounts"], after["accounts"]);
    assert_eq!(after["transactions"], json!([]));
}

#[tokio::test]
async fn a_duplicate_broadcast_answers_dup_and_changes_nothing() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 0).await;
    let tx = f.trx(&alice, &bob.address(), 1_000_000).await;
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Accepted
    );
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Duplicate
    );
    f.receipt(&tx, View::Head).await;
    let mined = f.ledger().await;
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Duplicate
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = f.ledger().await;
    assert_eq!(later["accounts"], mined["accounts"]);
    assert_eq!(later["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(balance_of(&later, &bob.address(), "trx_sun"), 1_000_000);
}

#[tokio::test]
async fn expired_unknown_reference_and_unaffordable_transactions_are_refused() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 3_000_000, 0).await;
    let transfer = Contract::Transfer {
        owner: alice.address(),
        to: bob.address(),
        amount: Sun(1_000_000),
    };
    let reference = f.client.now_block().await.unwrap();

    // Expiring at the reference block's own time: already expired.
    let expired = RawTransaction::new(
        transfer.clone(),
        &reference,
        now_ms(),
        Duration::ZERO,
        Sun::ZERO,
    );
    let err = f.client.broadcast(&expired.sign(&alice)).await.unwrap_err();
    let ClientError::Rejected { code, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(*code, BroadcastCode::Expiration);
    assert!(code.can_never_land());

    // More than 24 h ahead is refused too.
    let far = RawTransaction::new(
        transfer.clone(),
        &reference,
        now_ms(),
        Duration::from_secs(25 * 3600),
        Sun::ZERO,
    );
    assert!(matches!(
        f.client.broadcast(&far.sign(&alice)).await,
        Err(ClientError::Rejected {
            code: BroadcastCode::Expiration,
            ..
        })
    ));

    // A block the node never had.
    let mut fake = reference;
    fake.id[8..16].copy_from_slice(&[0xee; 8]);
    let unknown = RawTransaction::new(
        transfer,
        &fake,
        now_ms(),
        Duration::from_secs(60),
        Sun::ZERO,
    );
    let err = f.client.broadcast(&unknown.sign(&alice)).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Rejected {
                code: BroadcastCode::Tapos,
                ..
            }
        ),
        "{err}"
    );

    // More TRX than the account has (amount + 1.1 TRX activation).
    let tx = f.trx(&alice, &bob.address(), 2_500_000).await;
    let err = f.client.broadcast(&tx).await.unwrap_err();
    let ClientError::Rejected { code, message } = &err else {
        panic!("{err}");
    };
    assert_eq!(*code, BroadcastCode::ContractValidate);
    assert!(message.contains("balance is not sufficient"), "{message}");

    // Two transfers that fit one at a time but not together: the second is
    // refused against the pending state.
    let first = f.trx(&alice, &bob.address(), 1_000_000).await;
    let second = f.trx(&alice, &key(3).address(), 1_000_000).await;
    f.client.broadcast(&first).await.unwrap();
    assert!(matches!(
        f.client.broadcast(&second).await,
        Err(ClientError::Rejected {
            code: BroadcastCode::ContractValidate,
            ..
        })
    ));

    // An account that does not exist cannot send.
    let ghost = f.trx(&key(7), &bob.address(), 1).await;
    assert!(matches!(
        f.client.broadcast(&ghost).await,
        Err(ClientError::Rejected {
            code: BroadcastCode::ContractValidate,
            ..
        })
    ));
}

#[tokio::test]
async fn balances_and_fees_add_up_to_the_unit_after_a_run_of_transfers() {
    let f = fixture().await;
    let keys: Vec<PrivateKey> = (1..=4).map(key).collect();
    let funded_trx = [200_000_000u64, 50_000_000, 0, 0];
    let funded_usdt = [5_000_000u64, 0, 1_000_000, 0];
    for (k, (t, u)) in keys.iter().zip(funded_trx.iter().zip(&funded_usdt)) {
        f.fund(&k.address(), *t, *u).await;
    }
    let a = |i: usize| keys[i].address();
    let mut sent = Vec::new();
    for round in 0..3u64 {
        sent.push(f.trx(&keys[0], &a(1), 1_000_000 + round).await);
        sent.push(f.trx(&keys[0], &a(2), 2_000_000).await);
        sent.push(f.usdt(&keys[0], &a(3), 100_000 + round).await);
        sent.push(f.usdt(&keys[0], &a(1), 50_000).await);
        sent.push(f.trx(&keys[1], &a(0), 10_000).await);
        for tx in &sent[sent.len() - 5..] {
            f.client.broadcast(tx).await.unwrap();
        }
        // Wait for this round so that each builds on known balances.
        for tx in &sent[sent.len() - 5..] {
            f.receipt(tx, View::Head).await;
        }
    }
    let mut trx = funded_trx.map(|x| x as i128);
    let mut usdt = funded_usdt.map(|x| x as i128);
    let index = |addr: &Address| keys.iter().position(|k| k.address() == *addr).unwrap();
    let mut burned = 0i128;
    for tx in &sent {
        let r = f.receipt(tx, View::Solidified).await;
        assert!(r.succeeded(), "{r:?}");
        let owner = index(&tx.raw().contract.owner());
        trx[owner] -= r.fee.0 as i128;
        burned += r.fee.0 as i128;
        match &tx.raw().contract {
            Contract::Transfer { to, amount, .. } => {
                trx[owner] -= amount.0 as i128;
                trx[index(to)] += amount.0 as i128;
            }
            _ => {
                let log = r.trc20_transfers(&f.usdt)[0];
                usdt[owner] -= log.amount.0 as i128;
                usdt[index(&log.to)] += log.amount.0 as i128;
            }
        }
    }
    let ledger = f.ledger().await;
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            balance_of(&ledger, &k.address(), "trx_sun") as i128,
            trx[i],
            "TRX of {i}"
        );
        assert_eq!(
            balance_of(&ledger, &k.address(), "usdt") as i128,
            usdt[i],
            "USDT of {i}"
        );
        assert_eq!(
            f.client.trx_balance(&k.address()).await.unwrap().0 as i128,
            trx[i]
        );
    }
    let totals = &ledger["totals"];
    assert_eq!(totals["burned_sun"].as_u64().unwrap() as i128, burned);
    let sum_trx: i128 = trx.iter().sum();
    assert_eq!(sum_trx + burned, funded_trx.iter().sum::<u64>() as i128);
    assert_eq!(
        usdt.iter().sum::<i128>(),
        funded_usdt.iter().sum::<u64>() as i128
    );
    assert_eq!(ledger["transactions"].as_array().unwrap().len(), sent.len());
}

#[tokio::test]
async fn reads_retry_through_rate_limits_errors_and_dropped_connections() {
    let f = fixture().await;
    let alice = key(1);
    f.fund(&alice.address(), 7_000_000, 0).await;
    f.faults(json!({"rate_429": 0.2, "rate_busy": 0.1, "rate_500": 0.1, "rate_drop": 0.1}))
        .await;
    // About 40% of attempts fail; 16 attempts all failing is ~1e-6.
    let mut config = ClientConfig::new(f.sim.url().clone());
    config.max_retries = 15;
    config.backoff_base = Duration::from_millis(1);
    config.backoff_cap = Duration::from_millis(10);
    let persistent = TronClient::new(config).unwrap();
    for _ in 0..30 {
        assert_eq!(
            persistent.trx_balance(&alice.address()).await.unwrap(),
            Sun(7_000_000)
        );
    }

    // Always limited: the client gives up with a retryable error after
    // waiting at least Retry-After between attempts.
    f.faults(json!({"rate_429": 1.0, "retry_after_s": 1})).await;
    let mut config = ClientConfig::new(f.sim.url().clone());
    config.max_retries = 1;
    config.backoff_base = Duration::from_millis(1);
    let impatient = TronClient::new(config).unwrap();
    let start = std::time::Instant::now();
    let err = impatient.trx_balance(&alice.address()).await.unwrap_err();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After ignored"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert!(matches!(
        err,
        ClientError::Unavailable { retry_after: Some(d), .. } if d == Duration::from_secs(1)
    ));

    // The node's own rate limiter answers HTTP 200 with an error body.
    f.faults(json!({"rate_busy": 1.0})).await;
    let err = impatient.now_block().await.unwrap_err();
    assert!(
        err.to_string().contains("lack of computing resources"),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
    f.faults(json!({})).await;
    assert!(impatient.now_block().await.is_ok());
}

#[tokio::test]
async fn a_dropped_broadcast_is_ambiguous_and_the_same_bytes_settle_it() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 0).await;
    let tx = f.trx(&alice, &bob.address(), 1_000_000).await;

    f.faults(json!({"rate_drop": 1.0})).await;
    let err = f.client.broadcast(&tx).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Ambiguous, "{err}");
    f.faults(json!({})).await;

    // The node did take it: the same bytes answer DUP, and the receipt is the proof.
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Duplicate
    );
    assert!(f.receipt(&tx, View::Solidified).await.succeeded());
    let ledger = f.ledger().await;
    assert_eq!(ledger["transactions"].as_array().unwrap().len(), 1);

    // 429s on broadcast were never processed: retried with the same bytes.
    f.faults(json!({"rate_429": 0.3})).await;
    let next = f.trx(&alice, &bob.address(), 1_000_000).await;
    let outcome = f.client.broadcast(&next).await.unwrap();
    assert_eq!(outcome, BroadcastOutcome::Accepted);
}

#[tokio::test]
async fn a_never_mined_transaction_expires_and_its_txid_can_never_land() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 0).await;
    f.faults(json!({"rate_never_mined": 1.0})).await;
    let reference = f.client.now_block().await.unwrap();
    let short = RawTransaction::new(
        Contract::Transfer {
            owner: alice.address(),
            to: bob.address(),
            amount: Sun(1_000_000),
        },
        &reference,
        now_ms(),
        Duration::from_millis(400),
        Sun::ZERO,
    )
    .sign(&alice);
    assert_eq!(
        f.client.broadcast(&short).await.unwrap(),
        BroadcastOutcome::Accepted
    );
    f.faults(json!({})).await;

    // Once the solidified head has passed the expiration without the txID,
    // the transfer provably never happened.
    let expiration = short.raw().expiration_ms;
    eventually(|| async {
        let solid = f.client.block(View::Solidified).await.unwrap();
        (solid.timestamp_ms > expiration).then_some(())
    })
    .await;
    assert_eq!(
        f.client
            .transaction_info(&short.txid(), View::Solidified)
            .await
            .unwrap(),
        None
    );
    let err = f.client.broadcast(&short).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Rejected { code, .. } if code.can_never_land()),
        "{err}"
    );
    assert_eq!(
        f.client.trx_balance(&alice.address()).await.unwrap(),
        Sun(10_000_000)
    );
}

#[tokio::test]
async fn v1_lists_page_with_fingerprints_and_filter_by_direction() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 100_000_000, 1_000_000).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let tx = f.trx(&alice, &bob.address(), 1_000_000 + i).await;
        f.client.broadcast(&tx).await.unwrap();
        sent.push(tx);
    }
    let usdt_tx = f.usdt(&alice, &bob.address(), 250_000).await;
    f.client.broadcast(&usdt_tx).await.unwrap();
    for tx in sent.iter().chain([&usdt_tx]) {
        f.receipt(tx, View::Solidified).await;
    }
    let back = f.trx(&bob, &alice.address(), 10).await;
    f.client.broadcast(&back).await.unwrap();
    f.receipt(&back, View::Solidified).await;

    let account = f.client.v1_account(&bob.address()).await.unwrap().unwrap();
    assert_eq!(account.trc20.get(&f.usdt), Some(&TokenUnits(250_000)));
    assert_eq!(
        account.balance.0,
        5_000_010 - 10 - f.receipt(&back, View::Head).await.fee.0
    );
    assert_eq!(f.client.v1_account(&key(8).address()).await.unwrap(), None);

    // Paging two at a time walks every incoming transfer exactly once.
    let mut query = ListQuery {
        only_confirmed: true,
        only_to: true,
        limit: Some(2),
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = f
            .client
            .v1_transactions(&bob.address(), &query)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|t| t.txid));
        match page.next {
            Some(next) => query.fingerprint = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<_> = sent.iter().map(|t| t.txid()).collect();
    expected.reverse(); // newest first
    assert_eq!(seen, expected);

    let outgoing = f
        .client
        .v1_transactions(
            &bob.address(),
            &ListQuery {
                only_from: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(outgoing.items.len(), 1);
    assert_eq!(outgoing.items[0].txid, back.txid());
    assert_eq!(
        outgoing.items[0].contract.as_ref(),
        Some(&back.raw().contract)
    );

    let trc20 = f
        .client
        .v1_trc20_transfers(
            &bob.address(),
            &ListQuery {
                only_confirmed: true,
                contract_address: Some(f.usdt),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(trc20.items.len(), 1);
    let t = &trc20.items[0];
    assert_eq!(
        (t.txid, t.from, t.to, t.amount, t.kind.as_str()),
        (
            usdt_tx.txid(),
            alice.address(),
            bob.address(),
            TokenUnits(250_000),
            "Transfer"
        )
    );
}

/// Another implementation may order fields differently, add fields we do
/// not write, or use v = 27/28 (TronWeb): the node, and so the simulator,
/// hashes the bytes it is given and accepts any of them.
#[tokio::test]
async fn transactions_encoded_by_another_implementation_are_accepted() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 0).await;
    let ours = f.trx(&alice, &bob.address(), 1_000_000).await;
    // timestamp (14) first, then the rest; plus an unknown field 99.
    let canonical = ours.raw_bytes().to_vec();
    let mut raw = Vec::new();
    field_varint(&mut raw, 14, ours.raw().timestamp_ms as u64);
    raw.extend_from_slice(&canonical);
    field_varint(&mut raw, 99, 7);
    let txid = walletops::tron::TxId::of_raw(&raw);
    let mut sig = *alice.sign(&txid).as_bytes();
    sig[64] += 27;
    let tx = SignedTransaction::decode(&tx_bytes(&raw, &[&sig])).unwrap();
    assert_eq!(tx.txid(), txid);
    assert_ne!(tx.txid(), ours.txid());
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Accepted
    );
    assert!(f.receipt(&tx, View::Head).await.succeeded());
}

#[tokio::test]
async fn a_broadcast_that_times_out_is_ambiguous_and_reads_give_up_as_retryable() {
    let f = fixture().await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 0).await;
    let tx = f.trx(&alice, &bob.address(), 1_000_000).await;
    f.faults(json!({"latency_ms": 500})).await;
    let mut config = ClientConfig::new(f.sim.url().clone());
    config.timeout = Duration::from_millis(100);
    config.max_retries = 1;
    config.backoff_base = Duration::from_millis(1);
    let hasty = TronClient::new(config).unwrap();
    let err = hasty.broadcast(&tx).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Ambiguous, "{err}");
    let err = hasty.now_block().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn the_api_key_goes_in_the_tron_pro_api_key_header() {
    let sim = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        api_key: Some("test-key-123".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let settings = walletops::config::Settings {
        tron_api_url: Some(sim.url().clone()),
        tron_api_key: Some(walletops::config::Secret::new("test-key-123")),
        ..Default::default()
    };
    let config = ClientConfig::from_settings(&settings).unwrap();
    assert!(!format!("{config:?}").contains("test-key-123"));
    assert!(TronClient::new(config).unwrap().now_block().await.is_ok());

    let keyless = TronClient::new(ClientConfig::new(sim.url().clone())).unwrap();
    let err = keyless.now_block().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Denied);
    assert!(err.to_string().contains("TRON_API_KEY"), "{err}");
}

#[test]
fn the_tron_sim_command_serves_until_stopped() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args(["tron-sim", "--listen", "127.0.0.1:0", "--block-ms", "100"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the URL is printed")
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let block = rt.block_on(async {
        let client = TronClient::new(ClientConfig::new(url.parse().unwrap())).unwrap();
        client.now_block().await
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(block.is_ok(), "{line}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args(["tron-sim", "--block-ms", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn put_key(b: &mut Vec<u8>, field: u64, wire: u64) {
    put_uvarint(b, (field << 3) | wire);
}

fn put_uvarint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn field_varint(b: &mut Vec<u8>, field: u64, v: u64) {
    put_key(b, field, 0);
    put_uvarint(b, v);
}

fn field_bytes(b: &mut Vec<u8>, field: u64, v: &[u8]) {
    put_key(b, field, 2);
    put_uvarint(b, v.len() as u64);
    b.extend_from_slice(v);
}

/// A `Transaction` protobuf from raw bytes and signatures.
fn tx_bytes(raw: &[u8], sigs: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    field_bytes(&mut b, 1, raw);
    for s in sigs {
        field_bytes(&mut b, 2, s);
    }
    b
}
