//! Stake 2.0 in the simulator over real HTTP: staking, delegation and
//! undelegation as signed transactions, the resource queries, energy taken
//! from stake before TRX is burned (and the receipt saying so), recovery
//! over the scaled 24-hour window, and the node's validation errors.

mod common;

use std::time::Duration;

use common::chain::{client, eventually, key, now_ms};
use serde_json::{Value, json};
use walletops::sim::{SimConfig, SimHandle, Simulator};
use walletops::tron::client::{BroadcastCode, ClientError, TronClient, View};
use walletops::tron::tx::{Contract, RawTransaction, Resource, SignedTransaction};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};

const TRX: u64 = 1_000_000;
/// 80 blocks of 50 ms: the "24-hour" window lasts 4 s.
const WINDOW: Duration = Duration::from_millis(4_000);

struct Fixture {
    sim: SimHandle,
    client: TronClient,
    http: reqwest::Client,
    usdt: Address,
}

/// The rest of the network stakes 1,000 TRX for each resource and the
/// network has 2,000,000 energy and bandwidth a day, so 1,000 TRX staked
/// here gives exactly 1,000,000 energy.
async fn fixture() -> Fixture {
    let sim = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(50),
        solidify_blocks: 3,
        resource_window_blocks: 80,
        total_energy_limit: 2_000_000,
        network_energy_weight: 1_000,
        total_net_limit: 2_000_000,
        network_net_weight: 1_000,
        unfreeze_delay_days: 1,
        ..SimConfig::default()
    })
    .await
    .expect("start the simulator");
    Fixture {
        client: client(sim.url().clone()),
        sim,
        http: reqwest::Client::new(),
        usdt: walletops::tron::MAINNET_USDT.parse().unwrap(),
    }
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

impl Fixture {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(self.sim.url().join(path).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn fund(&self, addr: &Address, trx_sun: u64, usdt: u64) {
        let v = self
            .post(
                "/sim/fund",
                json!({"address": addr, "trx_sun": trx_sun, "usdt": usdt}),
            )
            .await;
        assert!(v.get("error").is_none(), "{v}");
    }

    async fn sign(
        &self,
        from: &PrivateKey,
        contract: Contract,
        fee_limit: Sun,
    ) -> SignedTransaction {
        let reference = self.client.now_block().await.unwrap();
        RawTransaction::new(
            contract,
            &reference,
            now_ms(),
            Duration::from_secs(60),
            fee_limit,
        )
        .sign(from)
    }

    /// Signs, broadcasts and waits for the receipt (`gettransactioninfobyid`).
    async fn land(&self, from: &PrivateKey, contract: Contract, fee_limit: Sun) -> Value {
        let tx = self.sign(from, contract, fee_limit).await;
        self.client.broadcast(&tx).await.unwrap();
        let txid = tx.txid();
        eventually(|| async {
            self.client
                .transaction_info(&txid, View::Head)
                .await
                .unwrap()
        })
        .await;
        self.post(
            "/wallet/gettransactioninfobyid",
            json!({"value": txid.to_hex()}),
        )
        .await
    }

    /// Broadcasts and expects the node's CONTRACT_VALIDATE_ERROR message.
    async fn refused(&self, from: &PrivateKey, contract: Contract) -> String {
        let tx = self.sign(from, contract, Sun::ZERO).await;
        match self.client.broadcast(&tx).await {
            Err(ClientError::Rejected { code, message }) => {
                assert_eq!(code, BroadcastCode::ContractValidate, "{message}");
                message
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    async fn resource(&self, addr: &Address) -> Value {
        self.post("/wallet/getaccountresource", json!({"address": addr}))
            .await
    }

    async fn account(&self, addr: &Address) -> Value {
        self.post("/wallet/getaccount", json!({"address": addr}))
            .await
    }

    async fn max_size(&self, addr: &Address, resource: Resource) -> u64 {
        let v = self
            .post(
                "/wallet/getcandelegatedmaxsize",
                json!({"owner_address": addr, "type": resource as u8}),
            )
            .await;
        n(&v, "max_size")
    }
}

fn freeze(owner: &PrivateKey, sun: u64, resource: Resource) -> Contract {
    Contract::FreezeBalanceV2 {
        owner: owner.address(),
        frozen_balance: Sun(sun),
        resource,
    }
}

fn delegate(owner: &PrivateKey, to: &Address, sun: u64, resource: Resource) -> Contract {
    Contract::DelegateResource {
        owner: owner.address(),
        resource,
        balance: Sun(sun),
        receiver: *to,
        lock: false,
        lock_period: 0,
    }
}

fn undelegate(owner: &PrivateKey, to: &Address, sun: u64, resource: Resource) -> Contract {
    Contract::UnDelegateResource {
        owner: owner.address(),
        resource,
        balance: Sun(sun),
        receiver: *to,
    }
}

#[tokio::test]
async fn delegated_energy_pays_for_a_usdt_transfer_before_any_trx_is_burned() {
    let f = fixture().await;
    let (pool, deposit, treasury) = (key(1), key(2), key(3));
    f.fund(&pool.address(), 2_000 * TRX, 0).await;
    f.fund(&deposit.address(), 3 * TRX, 5_000_000).await;
    f.fund(&treasury.address(), 0, 1).await;

    let r = f
        .land(
            &pool,
            freeze(&pool, 1_000 * TRX, Resource::Energy),
            Sun::ZERO,
        )
        .await;
    assert_eq!(n(&r, "fee"), 0, "free bandwidth pays for staking: {r}");
    f.land(
        &pool,
        freeze(&pool, 100 * TRX, Resource::Bandwidth),
        Sun::ZERO,
    )
    .await;
    let res = f.resource(&pool.address()).await;
    assert_eq!(n(&res, "EnergyLimit"), 1_000_000, "{res}");
    assert_eq!(n(&res, "TotalEnergyLimit"), 2_000_000);
    assert_eq!(n(&res, "TotalEnergyWeight"), 2_000);
    assert_eq!(n(&res, "TotalNetWeight"), 1_100);
    assert_eq!(n(&res, "NetLimit"), 100 * 2_000_000 / 1_100);
    let acct = f.account(&pool.address()).await;
    assert_eq!(n(&acct, "balance"), 900 * TRX, "{acct}");
    assert_eq!(
        acct["frozenV2"],
        json!([{"amount": 100 * TRX}, {"type": "ENERGY", "amount": 1_000 * TRX}])
    );
    assert_eq!(
        f.max_size(&pool.address(), Resource::Energy).await,
        1_000 * TRX
    );

    // 50 TRX of stake lends 50,000 energy; 10 TRX of bandwidth stake covers
    // the deposit wallet's bytes.
    f.land(
        &pool,
        delegate(&pool, &deposit.address(), 50 * TRX, Resource::Energy),
        Sun::ZERO,
    )
    .await;
    f.land(
        &pool,
        delegate(&pool, &deposit.address(), 10 * TRX, Resource::Bandwidth),
        Sun::ZERO,
    )
    .await;
    assert_eq!(
        n(&f.resource(&deposit.address()).await, "EnergyLimit"),
        50_000
    );
    assert_eq!(
        n(&f.resource(&pool.address()).await, "EnergyLimit"),
        950_000
    );
    let acct = f.account(&pool.address()).await;
    assert_eq!(
        n(
            &acct["account_resource"],
            "delegated_frozenV2_balance_for_energy"
        ),
        50 * TRX
    );
    assert_eq!(
        n(&acct, "delegated_frozenV2_balance_for_bandwidth"),
        10 * TRX
    );
    let dep = f.account(&deposit.address()).await;
    assert_eq!(
        n(
            &dep["account_resource"],
            "acquired_delegated_frozenV2_balance_for_energy"
        ),
        50 * TRX
    );
    let d = f
        .post(
            "/wallet/getdelegatedresourcev2",
            json!({"fromAddress": pool.address(), "toAddress": deposit.address(), "visible": true}),
        )
        .await;
    assert_eq!(
        d,
        json!({"delegatedResource": [{
            "from": pool.address().to_base58(), "to": deposit.address().to_base58(),
            "frozen_balance_for_bandwidth": 10 * TRX, "frozen_balance_for_energy": 50 * TRX,
        }]})
    );
    let idx = f
        .post(
            "/wallet/getdelegatedresourceaccountindexv2",
            json!({"value": pool.address(), "visible": true}),
        )
        .await;
    assert_eq!(
        idx,
        json!({"account": pool.address().to_base58(), "toAccounts": [deposit.address().to_base58()]})
    );

    // 65,000 energy: 50,000 delegated, 15,000 burned at 100 sun.
    let sweep = Contract::trc20_transfer(
        deposit.address(),
        f.usdt,
        treasury.address(),
        TokenUnits(2_000_000),
    );
    let r = f.land(&deposit, sweep, Sun(100 * TRX)).await;
    let receipt = &r["receipt"];
    assert_eq!(receipt["result"], "SUCCESS", "{r}");
    assert_eq!(n(receipt, "energy_usage"), 50_000, "{r}");
    assert_eq!(n(receipt, "energy_usage_total"), 65_000);
    assert_eq!(n(receipt, "energy_fee"), 1_500_000);
    assert!(n(receipt, "net_usage") > 0, "delegated bandwidth: {r}");
    assert_eq!(n(receipt, "net_fee"), 0);
    assert_eq!(n(&r, "fee"), 1_500_000);
    let used = n(&f.resource(&deposit.address()).await, "EnergyUsed");
    assert!(
        (1..=50_000).contains(&used),
        "recovering from 50,000: {used}"
    );

    // Enough delegated energy: nothing burned at all.
    f.land(
        &pool,
        delegate(&pool, &deposit.address(), 100 * TRX, Resource::Energy),
        Sun::ZERO,
    )
    .await;
    let sweep = Contract::trc20_transfer(
        deposit.address(),
        f.usdt,
        treasury.address(),
        TokenUnits(3_000_000),
    );
    let r = f.land(&deposit, sweep, Sun(100 * TRX)).await;
    assert_eq!(n(&r["receipt"], "energy_usage"), 65_000, "{r}");
    assert_eq!(n(&r["receipt"], "energy_fee"), 0);
    assert_eq!(r.get("fee"), None, "proto3 leaves a zero fee out: {r}");

    // Undelegating brings the stake and the receiver's usage of it back.
    f.land(
        &pool,
        undelegate(&pool, &deposit.address(), 150 * TRX, Resource::Energy),
        Sun::ZERO,
    )
    .await;
    let dep_res = f.resource(&deposit.address()).await;
    assert_eq!(dep_res.get("EnergyLimit"), None, "{dep_res}");
    assert_eq!(dep_res.get("EnergyUsed"), None, "{dep_res}");
    let pool_res = f.resource(&pool.address()).await;
    assert_eq!(n(&pool_res, "EnergyLimit"), 1_000_000);
    assert!(n(&pool_res, "EnergyUsed") > 0, "{pool_res}");
    assert!(f.max_size(&pool.address(), Resource::Energy).await < 1_000 * TRX);

    // After the window the pool's energy has recovered in full.
    tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
    let pool_res = f.resource(&pool.address()).await;
    assert_eq!(pool_res.get("EnergyUsed"), None, "{pool_res}");
    assert_eq!(
        f.max_size(&pool.address(), Resource::Energy).await,
        1_000 * TRX
    );

    // Every sun is accounted for: balances + stake + burned = funded.
    let ledger: Value = f
        .http
        .get(f.sim.url().join("/sim/ledger").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held: u64 = ledger["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| n(a, "trx_sun") + n(a, "staked_sun"))
        .sum();
    let totals = &ledger["totals"];
    assert_eq!(held + n(totals, "burned_sun"), n(totals, "funded_trx_sun"));
    assert_eq!(n(totals, "burned_sun"), 1_500_000);
}

#[tokio::test]
async fn own_staked_energy_recovers_linearly_over_the_window() {
    let f = fixture().await;
    let (pool, treasury) = (key(4), key(5));
    f.fund(&pool.address(), 1_000 * TRX, 1_000_000).await;
    f.fund(&treasury.address(), 0, 1).await;
    f.land(&pool, freeze(&pool, 100 * TRX, Resource::Energy), Sun::ZERO)
        .await;
    let limit = n(&f.resource(&pool.address()).await, "EnergyLimit");
    assert_eq!(limit, 100 * 2_000_000 / 1_100);
    let sweep = Contract::trc20_transfer(pool.address(), f.usdt, treasury.address(), TokenUnits(1));
    let r = f.land(&pool, sweep, Sun(100 * TRX)).await;
    assert_eq!(n(&r["receipt"], "energy_usage"), 65_000, "{r}");
    assert_eq!(n(&r, "fee"), 0);
    let first = n(&f.resource(&pool.address()).await, "EnergyUsed");
    assert!(first > 0 && first <= 65_000, "{first}");
    let frozen_left = f.max_size(&pool.address(), Resource::Energy).await;
    assert!(
        frozen_left < 100 * TRX,
        "usage occupies stake: {frozen_left}"
    );

    tokio::time::sleep(WINDOW / 2).await;
    let half = n(&f.resource(&pool.address()).await, "EnergyUsed");
    assert!(
        half < first && half > 0,
        "partly recovered: {first} -> {half}"
    );
    tokio::time::sleep(WINDOW / 2 + Duration::from_millis(200)).await;
    assert_eq!(f.resource(&pool.address()).await.get("EnergyUsed"), None);
    assert_eq!(
        f.max_size(&pool.address(), Resource::Energy).await,
        100 * TRX
    );

    // Unstaking: the TRX waits out the delay, the limit is gone at once.
    f.land(
        &pool,
        Contract::UnfreezeBalanceV2 {
            owner: pool.address(),
            unfreeze_balance: Sun(40 * TRX),
            resource: Resource::Energy,
        },
        Sun::ZERO,
    )
    .await;
    let acct = f.account(&pool.address()).await;
    assert_eq!(
        n(&acct["unfrozenV2"][0], "unfreeze_amount"),
        40 * TRX,
        "{acct}"
    );
    assert_eq!(acct["unfrozenV2"][0]["type"], "ENERGY");
    assert_eq!(
        n(&f.resource(&pool.address()).await, "EnergyLimit"),
        60 * 2_000_000 / 1_060
    );
    let withdraw = Contract::WithdrawExpireUnfreeze {
        owner: pool.address(),
    };
    let got = f.refused(&pool, withdraw.clone()).await;
    assert!(got.contains("no unFreeze balance to withdraw"), "{got}");
    // The delay here is one window (`unfreeze_delay_days: 1`).
    tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
    let balance = n(&f.account(&pool.address()).await, "balance");
    let r = f.land(&pool, withdraw, Sun::ZERO).await;
    let acct = f.account(&pool.address()).await;
    assert_eq!(
        n(&acct, "balance"),
        balance + 40 * TRX - n(&r, "fee"),
        "{r}"
    );
    assert_eq!(acct.get("unfrozenV2"), None, "{acct}");
}

#[tokio::test]
async fn the_node_refuses_invalid_staking_and_delegation_with_its_messages() {
    let f = fixture().await;
    let (pool, deposit, stranger) = (key(6), key(7), key(8));
    f.fund(&pool.address(), 200 * TRX, 0).await;
    f.fund(&deposit.address(), TRX, 0).await;
    f.land(&pool, freeze(&pool, 100 * TRX, Resource::Energy), Sun::ZERO)
        .await;
    // free_net_usage is shown recovered to the head block, so it may only
    // fall between the two reads; every other field must stay as it was.
    let without_free_net = |mut acct: Value| {
        let used = acct["free_net_usage"].as_u64().unwrap_or(0);
        acct.as_object_mut().unwrap().remove("free_net_usage");
        (acct, used)
    };
    let (before, free_net_before) = without_free_net(f.account(&pool.address()).await);

    let cases = [
        (
            freeze(&pool, 999_999, Resource::Energy),
            "frozenBalance must be greater than or equal to 1 TRX".to_string(),
        ),
        (
            freeze(&pool, 101 * TRX, Resource::Energy),
            "frozenBalance must be less than or equal to accountBalance".to_string(),
        ),
        (
            delegate(&pool, &deposit.address(), 999_999, Resource::Energy),
            "delegateBalance must be greater than or equal to 1 TRX".to_string(),
        ),
        (
            delegate(&pool, &deposit.address(), 101 * TRX, Resource::Energy),
            "delegateBalance must be less than or equal to available FreezeEnergyV2 balance"
                .to_string(),
        ),
        (
            delegate(&pool, &deposit.address(), TRX, Resource::Bandwidth),
            "delegateBalance must be less than or equal to available FreezeBandwidthV2 balance"
                .to_string(),
        ),
        (
            delegate(&pool, &pool.address(), TRX, Resource::Energy),
            "receiverAddress must not be the same as ownerAddress".to_string(),
        ),
        (
            delegate(&pool, &stranger.address(), TRX, Resource::Energy),
            format!("Account[{}] not exists", stranger.address().to_hex()),
        ),
        (
            delegate(&pool, &f.usdt, TRX, Resource::Energy),
            "Do not allow delegate resources to contract addresses".to_string(),
        ),
        (
            undelegate(&pool, &deposit.address(), TRX, Resource::Energy),
            "delegated Resource does not exist".to_string(),
        ),
        (
            Contract::UnfreezeBalanceV2 {
                owner: pool.address(),
                unfreeze_balance: Sun(101 * TRX),
                resource: Resource::Energy,
            },
            format!("Invalid unfreeze_balance, [{}] is invalid", 101 * TRX),
        ),
        (
            Contract::UnfreezeBalanceV2 {
                owner: pool.address(),
                unfreeze_balance: Sun(TRX),
                resource: Resource::Bandwidth,
            },
            "no frozenBalance(Bandwidth)".to_string(),
        ),
    ];
    for (contract, want) in cases {
        let got = f.refused(&pool, contract.clone()).await;
        assert!(got.contains(&want), "{contract:?}: {got:?}, want {want:?}");
    }
    let (after, free_net_after) = without_free_net(f.account(&pool.address()).await);
    assert_eq!(after, before, "refusals change nothing");
    assert!(
        free_net_after <= free_net_before,
        "refusals use no bandwidth: {free_net_after} > {free_net_before}"
    );

    // Undelegating more than delegated, and a locked delegation early.
    f.land(
        &pool,
        delegate(&pool, &deposit.address(), 5 * TRX, Resource::Energy),
        Sun::ZERO,
    )
    .await;
    let got = f
        .refused(
            &pool,
            undelegate(&pool, &deposit.address(), 6 * TRX, Resource::Energy),
        )
        .await;
    assert!(
        got.contains(&format!(
            "insufficient delegateFrozenBalance(Energy), request={}, unlock_balance={}",
            6 * TRX,
            5 * TRX
        )),
        "{got}"
    );
    let locked = Contract::DelegateResource {
        owner: pool.address(),
        resource: Resource::Energy,
        balance: Sun(2 * TRX),
        receiver: deposit.address(),
        lock: true,
        lock_period: 1_000,
    };
    f.land(&pool, locked, Sun::ZERO).await;
    let got = f
        .refused(
            &pool,
            undelegate(&pool, &deposit.address(), 7 * TRX, Resource::Energy),
        )
        .await;
    assert!(got.contains("unlock_balance=5000000"), "{got}");

    let after = f.account(&pool.address()).await;
    assert_eq!(
        n(
            &after["account_resource"],
            "delegated_frozenV2_balance_for_energy"
        ),
        7 * TRX
    );
    assert_eq!(after["frozenV2"][1]["amount"].as_u64().unwrap(), 93 * TRX);
}

#[tokio::test]
async fn the_builder_routes_answer_unsigned_transactions_that_land_once_signed() {
    let f = fixture().await;
    let (pool, deposit) = (key(9), key(10));
    f.fund(&pool.address(), 100 * TRX, 0).await;
    f.fund(&deposit.address(), TRX, 0).await;

    let built = f
        .post(
            "/wallet/freezebalancev2",
            json!({"owner_address": pool.address(), "frozen_balance": 10 * TRX,
                   "resource": "ENERGY", "visible": true}),
        )
        .await;
    assert_eq!(
        built["raw_data"]["contract"][0]["parameter"]["value"],
        json!({"owner_address": pool.address().to_base58(),
               "frozen_balance": 10 * TRX, "resource": "ENERGY"}),
        "{built}"
    );
    assert_eq!(
        built["raw_data"]["contract"][0]["type"],
        "FreezeBalanceV2Contract"
    );
    let sign_and_land = |built: Value| {
        let f = &f;
        let pool = &pool;
        async move {
            let raw = hex::decode(built["raw_data_hex"].as_str().unwrap()).unwrap();
            let raw = RawTransaction::decode(&raw).unwrap();
            assert_eq!(raw.txid().to_hex(), built["txID"].as_str().unwrap());
            let tx = raw.sign(pool);
            f.client.broadcast(&tx).await.unwrap();
            let txid = tx.txid();
            eventually(|| async { f.client.transaction_info(&txid, View::Head).await.unwrap() })
                .await
        }
    };
    sign_and_land(built).await;

    let built = f
        .post(
            "/wallet/delegateresource",
            json!({"owner_address": pool.address(), "receiver_address": deposit.address(),
                   "balance": 4 * TRX, "resource": "ENERGY"}),
        )
        .await;
    assert_eq!(
        built["raw_data"]["contract"][0]["parameter"]["value"]["receiver_address"],
        deposit.address().to_hex()
    );
    sign_and_land(built).await;
    assert_eq!(
        n(&f.resource(&deposit.address()).await, "EnergyLimit"),
        4 * 2_000_000 / 1_010
    );

    // Validation happens at build time too, in the node's words.
    let refused = f
        .post(
            "/wallet/undelegateresource",
            json!({"owner_address": pool.address(), "receiver_address": deposit.address(),
                   "balance": 5 * TRX, "resource": "ENERGY"}),
        )
        .await;
    assert_eq!(
        refused,
        json!({"Error": format!(
            "class org.tron.core.exception.ContractValidateException : \
             insufficient delegateFrozenBalance(Energy), request={}, unlock_balance={}",
            5 * TRX, 4 * TRX
        )})
    );
    let bad = f
        .post(
            "/wallet/delegateresource",
            json!({"owner_address": pool.address(), "receiver_address": deposit.address(),
                   "balance": 4 * TRX, "resource": "TRON_POWER"}),
        )
        .await;
    assert!(
        bad["Error"].as_str().unwrap().contains("TRON_POWER"),
        "{bad}"
    );
}

#[tokio::test]
async fn free_bandwidth_recovers_over_the_same_window() {
    let f = fixture().await;
    let (alice, bob) = (key(11), key(12));
    f.fund(&alice.address(), 10 * TRX, 0).await;
    f.fund(&bob.address(), TRX, 0).await;
    let pay = Contract::Transfer {
        owner: alice.address(),
        to: bob.address(),
        amount: Sun(TRX),
    };
    let r = f.land(&alice, pay.clone(), Sun::ZERO).await;
    let bytes = n(&r["receipt"], "net_usage");
    assert!(bytes > 0 && r.get("fee").is_none(), "free bandwidth: {r}");
    let used = n(&f.resource(&alice.address()).await, "freeNetUsed");
    assert!(used > 0 && used <= bytes, "{used} of {bytes}");
    // A second and third transfer exceed the 600 free bytes: burned.
    f.land(&alice, pay.clone(), Sun::ZERO).await;
    let r = f.land(&alice, pay.clone(), Sun::ZERO).await;
    assert!(n(&r["receipt"], "net_fee") > 0, "{r}");
    tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
    assert_eq!(f.resource(&alice.address()).await.get("freeNetUsed"), None);
    let r = f.land(&alice, pay, Sun::ZERO).await;
    assert_eq!(r.get("fee"), None, "recovered: {r}");
}
