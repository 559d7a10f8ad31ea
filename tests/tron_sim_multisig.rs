//! Multi-signature treasury withdrawals against the simulator over HTTP,
//! built and signed with walletops' own transaction code: an account
//! update to a 2-of-3 active permission (and its fee), then withdrawals
//! that one signature cannot make and two can, refused for a wrong
//! permission id, a key outside the permission, or a contract type the
//! permission does not allow.

mod common;

use common::chain::{build_on_head, client, head_receipt, key, post_json, spawn_fast};
use serde_json::{Value, json};
use walletops::sim::{SimConfig, SimHandle};
use walletops::tron::client::{
    BroadcastCode, BroadcastOutcome, ClientError, TransactionInfo, TronClient,
};
use walletops::tron::tx::{
    Contract, Permission, PermissionType, RawTransaction, Resource, SignedTransaction,
};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};

const TRX: u64 = 1_000_000;

struct Fixture {
    sim: SimHandle,
    client: TronClient,
    http: reqwest::Client,
    usdt: Address,
}

async fn fixture() -> Fixture {
    let sim = spawn_fast(SimConfig::default()).await;
    Fixture {
        client: client(sim.url().clone()),
        sim,
        http: reqwest::Client::new(),
        usdt: walletops::tron::MAINNET_USDT.parse().unwrap(),
    }
}

impl Fixture {
    async fn post(&self, path: &str, body: Value) -> Value {
        post_json(&self.http, &self.sim, path, body).await
    }

    async fn raw(&self, c: Contract, permission_id: i32) -> RawTransaction {
        build_on_head(&self.client, c, Sun(200 * TRX))
            .await
            .with_permission_id(permission_id)
    }

    async fn landed(&self, tx: &SignedTransaction) -> TransactionInfo {
        assert_eq!(
            self.client.broadcast(tx).await.unwrap(),
            BroadcastOutcome::Accepted
        );
        head_receipt(&self.client, tx.txid()).await
    }
}

fn signed(raw: &RawTransaction, keys: &[&PrivateKey]) -> SignedTransaction {
    let (first, rest) = keys.split_first().unwrap();
    rest.iter().fold(raw.sign(first), |tx, k| tx.cosign(k))
}

fn refusal(r: Result<BroadcastOutcome, ClientError>) -> (BroadcastCode, String) {
    match r {
        Err(ClientError::Rejected { code, message }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A 2-of-3 active permission that may send TRX and call contracts.
fn withdrawal_permission(signers: &[&PrivateKey]) -> Permission {
    common::chain::active_permission("withdraw", 2, &[1, 31], signers)
}

#[tokio::test]
async fn a_two_of_three_treasury_withdraws_with_two_signatures_and_not_one() {
    let f = fixture().await;
    let (treasury, a, b, c, outsider, payee) = (key(1), key(2), key(3), key(4), key(5), key(6));
    f.post(
        "/sim/fund",
        json!({"address": treasury.address(), "trx_sun": 300 * TRX, "usdt": 1_000_000}),
    )
    .await;

    // Before the update: the default permissions, owner and active (id 2).
    let acct = f
        .post(
            "/wallet/getaccount",
            json!({"address": treasury.address().to_base58(), "visible": true}),
        )
        .await;
    assert_eq!(acct["owner_permission"]["permission_name"], "owner");
    assert_eq!(acct["active_permission"][0]["id"], 2);
    assert_eq!(
        acct["active_permission"][0]["operations"],
        "7fff1fc0033efb0f000000000000000000000000000000000000000000000000"
    );

    let update = Contract::AccountPermissionUpdate {
        owner: treasury.address(),
        owner_permission: Permission::single(PermissionType::Owner, 0, "owner", treasury.address()),
        witness: None,
        actives: vec![withdrawal_permission(&[&a, &b, &c])],
    };
    // Only the owner permission may update permissions.
    let by_active = f.raw(update.clone(), 2).await;
    let (code, message) = refusal(f.client.broadcast(&by_active.sign(&treasury)).await);
    assert_eq!(code, BroadcastCode::SigError);
    assert_eq!(message, "Validate signature error: Permission denied");

    let before = f.client.trx_balance(&treasury.address()).await.unwrap();
    let r = f.landed(&f.raw(update, 0).await.sign(&treasury)).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        r.fee,
        Sun(100 * TRX + r.net_fee.0),
        "the update fee is burned"
    );
    assert_eq!(
        f.client.trx_balance(&treasury.address()).await.unwrap(),
        Sun(before.0 - r.fee.0)
    );
    let acct = f
        .post(
            "/wallet/getaccount",
            json!({"address": treasury.address().to_hex()}),
        )
        .await;
    let active = &acct["active_permission"][0];
    assert_eq!(active["type"], "Active");
    assert_eq!(active["permission_name"], "withdraw");
    assert_eq!(active["threshold"], 2);
    assert_eq!(active["keys"].as_array().unwrap().len(), 3);
    assert_eq!(active["keys"][1]["address"], b.address().to_hex());

    let withdrawal = Contract::Transfer {
        owner: treasury.address(),
        to: payee.address(),
        amount: Sun(10 * TRX),
    };
    let raw = f.raw(withdrawal.clone(), 2).await;

    // One signature of weight 1 does not reach the threshold of 2.
    let (code, message) = refusal(f.client.broadcast(&signed(&raw, &[&a])).await);
    assert_eq!(code, BroadcastCode::SigError);
    assert_eq!(message, "Validate signature error: sig error");

    // A key that is not in the permission, even beside a good one.
    let (code, message) = refusal(f.client.broadcast(&signed(&raw, &[&a, &outsider])).await);
    assert_eq!(code, BroadcastCode::SigError);
    assert!(
        message.ends_with(&format!(
            "is signed by {} but it is not contained of permission.",
            outsider.address()
        )),
        "{message}"
    );
    // The same key twice is one signer.
    let (_, message) = refusal(f.client.broadcast(&signed(&raw, &[&a, &a])).await);
    assert!(message.ends_with("has signed twice!"), "{message}");

    // A permission the account does not have.
    let wrong_id = f.raw(withdrawal.clone(), 3).await;
    let (code, message) = refusal(f.client.broadcast(&signed(&wrong_id, &[&a, &b])).await);
    assert_eq!(code, BroadcastCode::SigError);
    assert_eq!(message, "Validate signature error: permission isn't exit");

    // A contract type the permission does not allow (staking).
    let stake = Contract::FreezeBalanceV2 {
        owner: treasury.address(),
        frozen_balance: Sun(TRX),
        resource: Resource::Energy,
    };
    let (code, message) = refusal(
        f.client
            .broadcast(&signed(&f.raw(stake, 2).await, &[&a, &b]))
            .await,
    );
    assert_eq!(code, BroadcastCode::SigError);
    assert_eq!(message, "Validate signature error: Permission denied");

    // Nothing so far moved any TRX.
    assert_eq!(f.client.get_account(&payee.address()).await.unwrap(), None);

    // Two of three: accepted; the multi-signature fee (1 TRX) is burned.
    let r = f.landed(&signed(&raw, &[&b, &c])).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        f.client.trx_balance(&payee.address()).await.unwrap(),
        Sun(10 * TRX)
    );
    assert_eq!(
        r.fee,
        Sun(TRX + r.net_fee.0 + 1_000_000),
        "activation + multi-sign fee"
    );

    // A USDT withdrawal under the same permission.
    let usdt = Contract::trc20_transfer(
        treasury.address(),
        f.usdt,
        payee.address(),
        TokenUnits(250_000),
    );
    let r = f.landed(&signed(&f.raw(usdt, 2).await, &[&a, &c])).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &payee.address())
            .await
            .unwrap(),
        TokenUnits(250_000)
    );

    // The owner key alone still signs as owner (id 0), not as active.
    let as_owner = f
        .raw(
            Contract::Transfer {
                owner: treasury.address(),
                to: payee.address(),
                amount: Sun(TRX),
            },
            0,
        )
        .await;
    assert!(f.landed(&as_owner.sign(&treasury)).await.succeeded());
    let (code, _) = refusal(
        f.client
            .broadcast(&signed(
                &as_owner.clone().with_permission_id(2),
                &[&treasury],
            ))
            .await,
    );
    assert_eq!(code, BroadcastCode::SigError);
}

#[tokio::test]
async fn an_invalid_permission_update_is_refused_with_the_nodes_reason_and_changes_nothing() {
    let f = fixture().await;
    let (owner, a) = (key(1), key(2));
    f.post(
        "/sim/fund",
        json!({"address": owner.address(), "trx_sun": 300 * TRX}),
    )
    .await;
    let mut unreachable = withdrawal_permission(&[&a]);
    unreachable.threshold = 2;
    let cases = [
        (
            vec![unreachable],
            "sum of all key's weight should not be less than threshold in permission Active",
        ),
        (Vec::new(), "active permission is missed"),
    ];
    for (actives, reason) in cases {
        let update = Contract::AccountPermissionUpdate {
            owner: owner.address(),
            owner_permission: Permission::single(
                PermissionType::Owner,
                0,
                "owner",
                owner.address(),
            ),
            witness: None,
            actives,
        };
        let (code, message) = refusal(
            f.client
                .broadcast(&f.raw(update, 0).await.sign(&owner))
                .await,
        );
        assert_eq!(code, BroadcastCode::ContractValidate);
        assert_eq!(message, format!("Contract validate error : {reason}"));
    }

    // Too poor for the 100 TRX fee: the actuator fails when it executes.
    let poor = key(3);
    f.post(
        "/sim/fund",
        json!({"address": poor.address(), "trx_sun": 50 * TRX}),
    )
    .await;
    let update = Contract::AccountPermissionUpdate {
        owner: poor.address(),
        owner_permission: Permission::single(PermissionType::Owner, 0, "owner", poor.address()),
        witness: None,
        actives: vec![withdrawal_permission(&[&a, &owner])],
    };
    let r = f
        .post(
            "/wallet/broadcasthex",
            json!({"transaction": f.raw(update, 0).await.sign(&poor).to_hex()}),
        )
        .await;
    assert_eq!(r["code"], "CONTRACT_EXE_ERROR");
    let message = String::from_utf8(hex::decode(r["message"].as_str().unwrap()).unwrap()).unwrap();
    assert!(message.contains("insufficient balance"), "{message}");

    // The owner's permissions are still the defaults.
    let acct = f
        .post(
            "/wallet/getaccount",
            json!({"address": owner.address().to_base58(), "visible": true}),
        )
        .await;
    assert_eq!(acct["active_permission"][0]["permission_name"], "active");
    assert_eq!(acct["active_permission"][0]["threshold"], 1);
    assert_eq!(
        f.client.trx_balance(&poor.address()).await.unwrap(),
        Sun(50 * TRX)
    );
}
