//! The simulator's TRC-20 contracts over real HTTP, as any caller sees
//! them: every function of the interface ABI-encoded as Solidity returns
//! it, Transfer and Approval logs, reverts with their reasons, energy that
//! costs more for a zero slot, `--token` contracts; and broadcasts refused
//! in java-tron's order with its texts.

mod common;

use std::time::Duration;

use common::chain::{build_on_head, client, head_receipt, key, now_ms, post_json, spawn_fast};
use serde_json::{Value, json};
use walletops::sim::{SimConfig, SimHandle, TokenSpec};
use walletops::tron::client::{
    BroadcastCode, BroadcastOutcome, ClientError, TransactionInfo, TronClient,
};
use walletops::tron::tx::{
    Contract, RawTransaction, SignedTransaction, TRANSFER_EVENT_TOPIC, address_word, uint_word,
};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};

const APPROVAL_TOPIC: &str = "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925";
const UNLIMITED: [u8; 32] = [0xff; 32];

struct Fixture {
    sim: SimHandle,
    client: TronClient,
    http: reqwest::Client,
    usdt: Address,
}

async fn fixture(tokens: Vec<TokenSpec>) -> Fixture {
    let sim = spawn_fast(SimConfig {
        tokens,
        ..SimConfig::default()
    })
    .await;
    Fixture {
        client: client(sim.url().clone()),
        sim,
        http: reqwest::Client::new(),
        usdt: walletops::tron::MAINNET_USDT.parse().unwrap(),
    }
}

/// `selector(args...)` calldata tail: the words after the selector.
fn words(ws: &[[u8; 32]]) -> String {
    ws.iter().map(hex::encode).collect()
}

impl Fixture {
    async fn post(&self, path: &str, body: Value) -> Value {
        post_json(&self.http, &self.sim, path, body).await
    }

    async fn fund(&self, addr: &Address, trx_sun: u64, usdt: u64) {
        self.post(
            "/sim/fund",
            json!({"address": addr, "trx_sun": trx_sun, "usdt": usdt}),
        )
        .await;
    }

    /// `triggerconstantcontract` as a library sends it (hex addresses).
    async fn constant(&self, token: &Address, caller: &Address, sig: &str, params: &str) -> Value {
        self.post(
            "/wallet/triggerconstantcontract",
            json!({
                "owner_address": caller.to_hex(),
                "contract_address": token.to_hex(),
                "function_selector": sig,
                "parameter": params,
            }),
        )
        .await
    }

    async fn view(&self, token: &Address, sig: &str, params: &str) -> String {
        let v = self.constant(token, &key(99).address(), sig, params).await;
        assert_eq!(v["result"]["result"], true, "{v}");
        assert_eq!(v["transaction"]["ret"][0].get("ret"), None, "{v}");
        v["constant_result"][0].as_str().unwrap().to_string()
    }

    async fn call(
        &self,
        from: &PrivateKey,
        token: &Address,
        selector: &str,
        params: &[[u8; 32]],
    ) -> TransactionInfo {
        let mut data = walletops_selector(selector).to_vec();
        for p in params {
            data.extend_from_slice(p);
        }
        let c = Contract::TriggerSmartContract {
            owner: from.address(),
            contract: *token,
            call_value: Sun::ZERO,
            data,
        };
        let tx = self.build(c, Sun(100_000_000)).await.sign(from);
        assert_eq!(
            self.client.broadcast(&tx).await.unwrap(),
            BroadcastOutcome::Accepted
        );
        self.receipt(&tx).await
    }

    async fn build(&self, contract: Contract, fee_limit: Sun) -> RawTransaction {
        build_on_head(&self.client, contract, fee_limit).await
    }

    async fn receipt(&self, tx: &SignedTransaction) -> TransactionInfo {
        head_receipt(&self.client, tx.txid()).await
    }

    /// `transferFrom(from, to, amount)` sent by `spender`.
    async fn transfer_from(
        &self,
        spender: &PrivateKey,
        from: &Address,
        to: &Address,
        amount: [u8; 32],
    ) -> TransactionInfo {
        self.call(
            spender,
            &self.usdt,
            "transferFrom(address,address,uint256)",
            &[address_word(from), address_word(to), amount],
        )
        .await
    }

    async fn raw_info(&self, info: &TransactionInfo) -> Value {
        self.post(
            "/wallet/gettransactioninfobyid",
            json!({"value": info.txid.to_hex()}),
        )
        .await
    }
}

/// The 4-byte selector of a signature (Keccak-256), computed here
/// independently of the simulator.
fn walletops_selector(sig: &str) -> [u8; 4] {
    use sha3::{Digest, Keccak256};
    Keccak256::digest(sig.as_bytes())[..4].try_into().unwrap()
}

fn abi_string(s: &str) -> String {
    let mut out = hex::encode(uint_word(32)) + &hex::encode(uint_word(s.len() as u64));
    let mut body = s.as_bytes().to_vec();
    body.resize(s.len().div_ceil(32) * 32, 0);
    out += &hex::encode(body);
    out
}

#[tokio::test]
async fn usdt_answers_every_view_of_the_trc20_interface_abi_encoded() {
    let f = fixture(Vec::new()).await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 10_000_000, 700_000).await;
    f.fund(&bob.address(), 0, 300_000).await;

    assert_eq!(
        f.view(&f.usdt, "name()", "").await,
        abi_string("Tether USD")
    );
    assert_eq!(f.view(&f.usdt, "symbol()", "").await, abi_string("USDT"));
    assert_eq!(
        f.view(&f.usdt, "decimals()", "").await,
        hex::encode(uint_word(6))
    );
    assert_eq!(
        f.view(&f.usdt, "totalSupply()", "").await,
        hex::encode(uint_word(1_000_000))
    );
    let holder = words(&[address_word(&bob.address())]);
    assert_eq!(
        f.view(&f.usdt, "balanceOf(address)", &holder).await,
        hex::encode(uint_word(300_000))
    );
    let pair = words(&[address_word(&alice.address()), address_word(&bob.address())]);
    assert_eq!(
        f.view(&f.usdt, "allowance(address,address)", &pair).await,
        hex::encode([0u8; 32])
    );
    // The whole calldata in `data` works as well as selector + parameter.
    let v = f
        .post(
            "/wallet/triggerconstantcontract",
            json!({
                "owner_address": alice.address().to_base58(),
                "contract_address": f.usdt.to_base58(),
                "data": hex::encode(walletops_selector("decimals()")),
                "visible": true,
            }),
        )
        .await;
    assert_eq!(v["constant_result"][0], hex::encode(uint_word(6)));
    assert_eq!(v["energy_used"], 935);

    // An unknown function, short calldata and a dirty address word revert,
    // as Solidity's dispatcher and decoder do.
    for (sig, params) in [
        ("mint(uint256)", hex::encode(uint_word(1))),
        ("balanceOf(address)", String::new()),
        ("balanceOf(address)", hex::encode([0xffu8; 32])),
    ] {
        let v = f.constant(&f.usdt, &alice.address(), sig, &params).await;
        assert_eq!(v["transaction"]["ret"][0]["ret"], "FAILED", "{sig}: {v}");
        assert_eq!(
            v["result"]["message"],
            hex::encode("REVERT opcode executed")
        );
    }
    // Not a contract at all: the node's validate error.
    let v = f
        .constant(&key(50).address(), &alice.address(), "name()", "")
        .await;
    assert_eq!(v["result"]["code"], "CONTRACT_VALIDATE_ERROR");
    // Views changed nothing.
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &alice.address())
            .await
            .unwrap(),
        TokenUnits(700_000)
    );
}

#[tokio::test]
async fn approve_and_transfer_from_move_allowances_with_their_logs_and_reverts() {
    let f = fixture(Vec::new()).await;
    let (alice, spender, carol) = (key(1), key(2), key(3));
    f.fund(&alice.address(), 100_000_000, 1_000_000).await;
    f.fund(&spender.address(), 100_000_000, 5).await;

    // Approve 600,000: an Approval log with owner and spender as topics.
    let r = f
        .call(
            &alice,
            &f.usdt,
            "approve(address,uint256)",
            &[address_word(&spender.address()), uint_word(600_000)],
        )
        .await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.logs.len(), 1);
    assert_eq!(r.logs[0].address, f.usdt);
    assert_eq!(
        r.logs[0].topics,
        vec![
            hex::decode(APPROVAL_TOPIC).unwrap().try_into().unwrap(),
            address_word(&alice.address()),
            address_word(&spender.address()),
        ]
    );
    assert_eq!(r.logs[0].data, uint_word(600_000).to_vec());
    let first_approval = r.energy_usage_total;
    let raw = f.raw_info(&r).await;
    assert_eq!(raw["contractResult"][0], hex::encode(uint_word(1)));
    assert_eq!(raw["log"][0]["address"], hex::encode(f.usdt.evm_bytes()));
    let pair = words(&[
        address_word(&alice.address()),
        address_word(&spender.address()),
    ]);
    assert_eq!(
        f.view(&f.usdt, "allowance(address,address)", &pair).await,
        hex::encode(uint_word(600_000))
    );

    // The spender moves 250,000 to Carol: a Transfer log from Alice, the
    // allowance goes down, and it costs a transfer plus the allowance write.
    let r = f
        .transfer_from(
            &spender,
            &alice.address(),
            &carol.address(),
            uint_word(250_000),
        )
        .await;
    assert!(r.succeeded(), "{r:?}");
    let moved = r.trc20_transfers(&f.usdt);
    assert_eq!(
        (moved[0].from, moved[0].to, moved[0].amount),
        (alice.address(), carol.address(), TokenUnits(250_000))
    );
    assert_eq!(
        hex::encode(r.logs[0].topics[0]),
        TRANSFER_EVENT_TOPIC,
        "topic0 is Transfer"
    );
    assert!(
        r.energy_usage_total > 130_000,
        "a transfer to a new holder plus the allowance: {}",
        r.energy_usage_total
    );
    assert_eq!(
        f.view(&f.usdt, "allowance(address,address)", &pair).await,
        hex::encode(uint_word(350_000))
    );
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &carol.address())
            .await
            .unwrap(),
        TokenUnits(250_000)
    );

    // More than the allowance: REVERT with the reason, nothing moves.
    let r = f
        .transfer_from(
            &spender,
            &alice.address(),
            &carol.address(),
            uint_word(350_001),
        )
        .await;
    assert_eq!(r.receipt_result.as_deref(), Some("REVERT"));
    assert!(r.logs.is_empty());
    let raw = f.raw_info(&r).await;
    assert_eq!(raw["result"], "FAILED");
    assert_eq!(raw["resMessage"], hex::encode("REVERT opcode executed"));
    let reason = hex::decode(raw["contractResult"][0].as_str().unwrap()).unwrap();
    assert_eq!(reason[..4], [0x08, 0xc3, 0x79, 0xa0], "Error(string)");
    assert!(String::from_utf8_lossy(&reason).contains("ERC20: insufficient allowance"));
    assert_eq!(
        f.view(&f.usdt, "allowance(address,address)", &pair).await,
        hex::encode(uint_word(350_000))
    );

    // The estimate says so too, with the reason decoded by the client.
    let err = f
        .client
        .estimate_trc20_transfer(&spender.address(), &f.usdt, &carol.address(), TokenUnits(6))
        .await
        .unwrap_err();
    match err {
        ClientError::Reverted(reason) => {
            assert_eq!(reason, "ERC20: transfer amount exceeds balance")
        }
        other => panic!("{other}"),
    }

    // Changing a non-zero allowance costs less than the first approval.
    let r = f
        .call(
            &alice,
            &f.usdt,
            "approve(address,uint256)",
            &[address_word(&spender.address()), UNLIMITED],
        )
        .await;
    assert!(r.energy_usage_total < first_approval);
    // An unlimited allowance is not written down by transferFrom.
    let r = f
        .transfer_from(&spender, &alice.address(), &carol.address(), uint_word(1))
        .await;
    assert!(r.succeeded());
    assert_eq!(
        r.energy_usage_total, 65_000,
        "Carol holds: a plain transfer"
    );
    assert_eq!(
        f.view(&f.usdt, "allowance(address,address)", &pair).await,
        hex::encode(UNLIMITED)
    );
}

#[tokio::test]
async fn a_declared_token_is_a_trc20_of_its_own_at_a_deterministic_address() {
    let usdc: TokenSpec = "USDC:18".parse().unwrap();
    let f = fixture(vec![usdc.clone()]).await;
    let (alice, bob) = (key(1), key(2));
    f.fund(&alice.address(), 100_000_000, 0).await;
    let funded = f
        .post(
            "/sim/fund",
            json!({"address": alice.address(), "token": usdc.address, "token_units": 5_000}),
        )
        .await;
    assert_eq!(funded["address"], alice.address().to_base58());

    assert_eq!(
        f.view(&usdc.address, "symbol()", "").await,
        abi_string("USDC")
    );
    assert_eq!(
        f.view(&usdc.address, "decimals()", "").await,
        hex::encode(uint_word(18))
    );
    assert_eq!(
        f.view(&usdc.address, "totalSupply()", "").await,
        hex::encode(uint_word(5_000))
    );

    let c = Contract::trc20_transfer(
        alice.address(),
        usdc.address,
        bob.address(),
        TokenUnits(1_200),
    );
    let tx = f.build(c, Sun(100_000_000)).await.sign(&alice);
    f.client.broadcast(&tx).await.unwrap();
    let r = f.receipt(&tx).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.trc20_transfers(&usdc.address).len(), 1);
    assert_eq!(r.energy_usage_total, 130_000, "Bob held none");
    assert_eq!(
        f.client
            .trc20_balance(&usdc.address, &bob.address())
            .await
            .unwrap(),
        TokenUnits(1_200)
    );
    let ledger: Value = f
        .http
        .get(f.sim.url().join("/sim/ledger").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob_row = ledger["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == bob.address().to_base58())
        .expect("a token holder is in the ledger");
    assert_eq!(bob_row["tokens"], json!({ usdc.address.to_base58(): 1200 }));
    // TronGrid's account view lists the token beside USDT.
    let v1: Value = f
        .http
        .get(
            f.sim
                .url()
                .join(&format!("/v1/accounts/{}", alice.address()))
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1["data"][0]["trc20"],
        json!([{ usdc.address.to_base58(): "3800" }])
    );
    // USDT is a separate ledger.
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &bob.address())
            .await
            .unwrap(),
        TokenUnits(0)
    );

    // Funding a token that was never declared changes nothing.
    let r = f
        .http
        .post(f.sim.url().join("/sim/fund").unwrap())
        .json(&json!({"address": bob.address(), "trx_sun": 5, "token": key(60).address(), "token_units": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("--token"));
    assert_eq!(f.client.get_account(&bob.address()).await.unwrap(), None);
}

#[test]
fn tron_sim_prints_each_declared_token_and_refuses_a_malformed_one() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args([
            "tron-sim",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "USDC:6",
            "--token",
            "WBTC:8",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        lines.push(line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let usdc: TokenSpec = "USDC:6".parse().unwrap();
    assert!(lines[0].contains("listening"), "{lines:?}");
    assert_eq!(
        lines[1].trim(),
        format!("token USDC (6 decimals) at {}", usdc.address)
    );
    assert!(
        lines[2].starts_with("token WBTC (8 decimals) at T"),
        "{lines:?}"
    );

    for bad in [["--token", "USDC"], ["--token", "USDC:99"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
            .args(["tron-sim", "--listen", "127.0.0.1:0"])
            .args(bad)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("SYMBOL:DECIMALS") || err.contains("decimals"),
            "{err}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args([
            "tron-sim",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "A:1",
            "--token",
            "A:2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("declared twice"));
}

/// Broadcast refusals come in java-tron's order: a transaction wrong in two
/// ways is refused for the check the node makes first.
#[tokio::test]
async fn broadcast_refusals_follow_the_nodes_order_and_texts() {
    let f = fixture(Vec::new()).await;
    let (alice, bob, mallory) = (key(1), key(2), key(9));
    f.fund(&alice.address(), 3_000_000, 0).await;
    let transfer = |amount| Contract::Transfer {
        owner: alice.address(),
        to: bob.address(),
        amount: Sun(amount),
    };
    let reference = f.client.now_block().await.unwrap();
    let mut unknown_block = reference;
    unknown_block.id[8..16].copy_from_slice(&[0xee; 8]);
    let refused = |r: Result<BroadcastOutcome, ClientError>| match r {
        Err(ClientError::Rejected { code, message }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    };

    // Expired and signed by a stranger: expired first.
    let expired = RawTransaction::new(transfer(1), &reference, now_ms(), Duration::ZERO, Sun::ZERO);
    let (code, message) = refused(f.client.broadcast(&expired.sign(&mallory)).await);
    assert_eq!(code, BroadcastCode::Expiration);
    assert_eq!(message, "Transaction expired");

    // A stranger's signature on an unknown reference block: signature first.
    let unknown = RawTransaction::new(
        transfer(1),
        &unknown_block,
        now_ms(),
        Duration::from_secs(60),
        Sun::ZERO,
    );
    let (code, message) = refused(f.client.broadcast(&unknown.sign(&mallory)).await);
    assert_eq!(code, BroadcastCode::SigError);
    assert!(
        message.starts_with("Validate signature error: ")
            && message.ends_with("but it is not contained of permission."),
        "{message}"
    );
    // Signed properly, the same block is a TaPoS error.
    let (code, message) = refused(f.client.broadcast(&unknown.sign(&alice)).await);
    assert_eq!(code, BroadcastCode::Tapos);
    assert_eq!(message, "Tapos check error.");

    // No signature at all.
    let bare = expired_free(&f, transfer(1)).await;
    let unsigned = SignedTransaction::decode(&tx_without_signature(&bare)).unwrap();
    let (code, message) = refused(f.client.broadcast(&unsigned).await);
    assert_eq!(code, BroadcastCode::SigError);
    assert_eq!(message, "Validate signature error: miss sig or contract");

    // Expiring more than a day ahead, with a stranger's signature: the
    // signature is checked before the expiration window.
    let far = RawTransaction::new(
        transfer(1),
        &reference,
        now_ms(),
        Duration::from_secs(25 * 3600),
        Sun::ZERO,
    );
    let (code, _) = refused(f.client.broadcast(&far.sign(&mallory)).await);
    assert_eq!(code, BroadcastCode::SigError);
    let (code, message) = refused(f.client.broadcast(&far.sign(&alice)).await);
    assert_eq!(code, BroadcastCode::Expiration);
    assert_eq!(message, "Transaction expired");

    // Unaffordable: the contract's own text behind the node's prefix.
    let (code, message) = refused(
        f.client
            .broadcast(&expired_free(&f, transfer(2_500_000)).await.sign(&alice))
            .await,
    );
    assert_eq!(code, BroadcastCode::ContractValidate);
    assert_eq!(
        message,
        "Contract validate error : Validate TransferContract error, balance is not sufficient."
    );

    // A duplicate is answered after the signature and TaPoS checks pass.
    let tx = expired_free(&f, transfer(1_000_000)).await.sign(&alice);
    assert_eq!(
        f.client.broadcast(&tx).await.unwrap(),
        BroadcastOutcome::Accepted
    );
    let dup = f
        .post("/wallet/broadcasthex", json!({"transaction": tx.to_hex()}))
        .await;
    assert_eq!(dup["code"], "DUP_TRANSACTION_ERROR");
    assert_eq!(dup["message"], hex::encode("Dup transaction."));
    f.receipt(&tx).await;
    // A copy with a stranger's signature added is another transaction
    // (same raw, other signatures) but not Alice's: a signature error, not DUP.
    let forged = tx.clone().cosign(&mallory);
    let (code, _) = refused(f.client.broadcast(&forged).await);
    assert_eq!(code, BroadcastCode::SigError);
}

/// A transaction referring to the head block and expiring in a minute.
async fn expired_free(f: &Fixture, c: Contract) -> RawTransaction {
    f.build(c, Sun::ZERO).await
}

/// The `Transaction` bytes of `raw` with no signature.
fn tx_without_signature(raw: &RawTransaction) -> Vec<u8> {
    let raw_bytes = raw.encode();
    let mut b = vec![0x0a];
    let mut n = raw_bytes.len();
    while n >= 0x80 {
        b.push((n as u8) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    b.extend_from_slice(&raw_bytes);
    b
}
