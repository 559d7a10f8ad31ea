//! tron-sim as a devnet: the node routes client libraries call, in
//! java-tron's shapes with `visible` both ways, the error object for
//! unknown routes, and the real binary's `--accounts` and `--state`.

mod common;

use std::time::Duration;

use common::chain::{eventually, key};
use common::devnet::start;
use serde_json::{Value, json};
use walletops::sim::{Devnet, SimConfig, SimHandle, Simulator, dev_keys};
use walletops::tron::tx::RawTransaction;
use walletops::tron::{Address, MAINNET_USDT, PrivateKey};

const TRX: u64 = 1_000_000;

struct Sim {
    sim: SimHandle,
    http: reqwest::Client,
    /// Funded with 1,000 TRX and 1,000 USDT before the first block.
    alice: PrivateKey,
    usdt: Address,
}

/// A simulator whose solid head stays at genesis (solidity is 1000 blocks
/// away), so full and solid reads differ once a block has a transaction.
async fn sim() -> Sim {
    let alice = key(1);
    let sim = Simulator::spawn_devnet(
        SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            block_interval: Duration::from_millis(50),
            solidify_blocks: 1000,
            ..SimConfig::default()
        },
        Devnet {
            accounts: vec![(alice.address(), 1_000 * TRX, 1_000 * TRX)],
            ..Devnet::default()
        },
    )
    .await
    .unwrap();
    Sim {
        sim,
        http: common::admin::http(),
        alice,
        usdt: MAINNET_USDT.parse().unwrap(),
    }
}

impl Sim {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.sim.url().join(path).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// A TRX transfer built by the node, signed by `key`, as JSON.
    async fn signed_transfer(&self, key: &PrivateKey, to: &Address, amount: u64) -> Value {
        let mut tx = self
            .post(
                "wallet/createtransaction",
                json!({"owner_address": key.address().to_hex(), "to_address": to.to_hex(), "amount": amount}),
            )
            .await;
        sign(&mut tx, key);
        tx
    }
}

/// Adds `key`'s signature of the transaction's txID, as a library does.
fn sign(tx: &mut Value, key: &PrivateKey) {
    let raw = RawTransaction::decode(&hex::decode(tx["raw_data_hex"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(
        raw.txid().to_hex(),
        tx["txID"],
        "txID is the raw bytes' hash"
    );
    let sig = raw.sign(key).signatures()[0].clone();
    tx["signature"] = json!([hex::encode(sig)]);
}

#[tokio::test]
async fn getnodeinfo_names_the_head_and_the_solid_block() {
    let s = sim().await;
    let info = s.post("wallet/getnodeinfo", json!({})).await;
    let head = s.post("wallet/getnowblock", json!({})).await;
    for key in ["block", "solidityBlock"] {
        let line = info[key].as_str().unwrap();
        let (num, id) = line
            .strip_prefix("Num:")
            .and_then(|l| l.split_once(",ID:"))
            .unwrap_or_else(|| panic!("{key}: {line}"));
        assert!(num.parse::<u64>().is_ok(), "{line}");
        assert_eq!(id.len(), 64, "{line}");
    }
    let head_num = head["block_header"]["raw_data"]["number"]
        .as_u64()
        .unwrap_or(0);
    let line = info["block"].as_str().unwrap();
    let num: u64 = line[4..line.find(',').unwrap()].parse().unwrap();
    assert!(num >= head_num, "{line} vs head {head_num}");
    // TronWeb sends it as a GET without a body.
    let r = s
        .http
        .get(s.sim.url().join("wallet/getnodeinfo").unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.json::<Value>().await.unwrap()["block"].is_string());
}

#[tokio::test]
async fn createtransaction_renders_addresses_as_asked_and_refuses_overdrafts() {
    let s = sim().await;
    let bob = key(2).address();
    let owner = s.alice.address();
    for vis in [false, true] {
        let (o, b) = if vis {
            (owner.to_base58(), bob.to_base58())
        } else {
            (owner.to_hex(), bob.to_hex())
        };
        let tx = s
            .post(
                "wallet/createtransaction",
                json!({"owner_address": o, "to_address": b, "amount": TRX, "visible": vis}),
            )
            .await;
        assert_eq!(tx["visible"], vis);
        let value = &tx["raw_data"]["contract"][0]["parameter"]["value"];
        assert_eq!(value["owner_address"], o, "{tx}");
        assert_eq!(value["to_address"], b, "{tx}");
        assert_eq!(value["amount"], TRX);
        assert_eq!(tx["raw_data"]["contract"][0]["type"], "TransferContract");
    }
    let over = s
        .post(
            "wallet/createtransaction",
            json!({"owner_address": owner.to_hex(), "to_address": bob.to_hex(), "amount": 10_000 * TRX}),
        )
        .await;
    assert_eq!(
        over["Error"],
        "class org.tron.core.exception.ContractValidateException : Validate TransferContract error, balance is not sufficient."
    );
    let missing = s
        .post(
            "wallet/createtransaction",
            json!({"owner_address": owner.to_hex()}),
        )
        .await;
    assert!(
        missing["Error"]
            .as_str()
            .unwrap()
            .contains("to_address isn't set"),
        "{missing}"
    );
}

#[tokio::test]
async fn json_broadcast_lands_and_refusals_read_as_text_only_when_visible() {
    let s = sim().await;
    let bob = key(2).address();
    let tx = s.signed_transfer(&s.alice, &bob, 2 * TRX).await;
    let ok = s.post("wallet/broadcasttransaction", tx.clone()).await;
    assert_eq!(ok, json!({"result": true, "txid": tx["txID"]}));

    let dup = s.post("wallet/broadcasttransaction", tx.clone()).await;
    assert_eq!(dup["code"], "DUP_TRANSACTION_ERROR");
    assert_eq!(dup["txid"], tx["txID"]);
    let text = String::from_utf8(hex::decode(dup["message"].as_str().unwrap()).unwrap()).unwrap();
    let mut visible = tx.clone();
    visible["visible"] = true.into();
    let dup = s.post("wallet/broadcasttransaction", visible).await;
    assert_eq!(dup["message"], text, "visible: the message is text");

    // Signed by someone else: the node's signature error, nothing sent.
    let mut forged = s.signed_transfer(&s.alice, &bob, 3 * TRX).await;
    sign(&mut forged, &key(3));
    let bad = s.post("wallet/broadcasttransaction", forged).await;
    assert_eq!(bad["code"], "SIGERROR", "{bad}");

    let garbage = s
        .post(
            "wallet/broadcasttransaction",
            json!({"raw_data": {"contract": []}}),
        )
        .await;
    assert!(
        garbage["Error"]
            .as_str()
            .unwrap()
            .contains("exactly one contract")
    );

    let info = eventually(|| async {
        let i = s
            .post(
                "wallet/gettransactioninfobyid",
                json!({"value": tx["txID"]}),
            )
            .await;
        i.get("blockNumber").is_some().then_some(i)
    })
    .await;
    assert_eq!(info["id"], tx["txID"]);
    let account = s
        .post(
            "wallet/getaccount",
            json!({"address": bob.to_base58(), "visible": true}),
        )
        .await;
    assert_eq!(account["balance"], 2 * TRX);
    assert_eq!(account["address"], bob.to_base58());
}

#[tokio::test]
async fn walletsolidity_getaccount_reads_the_solidified_state() {
    let s = sim().await;
    let bob = key(2).address();
    let tx = s.signed_transfer(&s.alice, &bob, TRX).await;
    s.post("wallet/broadcasttransaction", tx.clone()).await;
    eventually(|| async {
        let i = s
            .post(
                "wallet/gettransactioninfobyid",
                json!({"value": tx["txID"]}),
            )
            .await;
        i.get("blockNumber").map(|_| ())
    })
    .await;
    let q = |a: &Address| json!({"address": a.to_base58(), "visible": true});
    assert_eq!(s.post("wallet/getaccount", q(&bob)).await["balance"], TRX);
    // The solid head is still genesis: Bob does not exist there, Alice has
    // her whole funding.
    assert_eq!(
        s.post("walletsolidity/getaccount", q(&bob)).await,
        json!({})
    );
    let alice = s
        .post("walletsolidity/getaccount", q(&s.alice.address()))
        .await;
    assert_eq!(alice["balance"], 1_000 * TRX, "{alice}");
    assert_eq!(alice["address"], s.alice.address().to_base58());
}

#[tokio::test]
async fn triggersmartcontract_builds_the_call_and_estimateenergy_prices_it() {
    let s = sim().await;
    let bob = key(2).address();
    let param = format!("{:0>64}{:064x}", hex::encode(bob.evm_bytes()), 5 * TRX);
    for vis in [false, true] {
        let show = |a: &Address| if vis { a.to_base58() } else { a.to_hex() };
        let r = s
            .post(
                "wallet/triggersmartcontract",
                json!({
                    "owner_address": show(&s.alice.address()),
                    "contract_address": show(&s.usdt),
                    "function_selector": "transfer(address,uint256)",
                    "parameter": param,
                    "fee_limit": 100 * TRX,
                    "visible": vis,
                }),
            )
            .await;
        assert_eq!(r["result"]["result"], true, "{r}");
        let raw = &r["transaction"]["raw_data"];
        let value = &raw["contract"][0]["parameter"]["value"];
        assert_eq!(value["contract_address"], show(&s.usdt), "{r}");
        assert_eq!(value["owner_address"], show(&s.alice.address()));
        assert_eq!(value["data"], format!("a9059cbb{param}"));
        assert_eq!(raw["fee_limit"], 100 * TRX);
    }
    // A view function: the node answers its result beside the transaction.
    let view = s
        .post(
            "wallet/triggersmartcontract",
            json!({"owner_address": s.alice.address().to_hex(), "contract_address": s.usdt.to_hex(),
                   "function_selector": "balanceOf(address)",
                   "parameter": format!("{:0>64}", hex::encode(s.alice.address().evm_bytes()))}),
        )
        .await;
    assert_eq!(
        view["constant_result"],
        json!([format!("{:064x}", 1_000 * TRX)]),
        "{view}"
    );
    assert!(view["transaction"]["txID"].is_string(), "{view}");
    let unknown = s
        .post(
            "wallet/triggersmartcontract",
            json!({"owner_address": s.alice.address().to_hex(), "contract_address": bob.to_hex(),
                   "function_selector": "transfer(address,uint256)", "parameter": param}),
        )
        .await;
    assert_eq!(unknown["result"]["code"], "CONTRACT_VALIDATE_ERROR");
    assert_eq!(
        hex::decode(unknown["result"]["message"].as_str().unwrap()).unwrap(),
        b"No contract or not a valid smart contract"
    );

    let estimate = |param: String| {
        let s = &s;
        async move {
            s.post(
                "wallet/estimateenergy",
                json!({"owner_address": s.alice.address().to_base58(), "contract_address": s.usdt.to_base58(),
                       "function_selector": "transfer(address,uint256)", "parameter": param, "visible": true}),
            )
            .await
        }
    };
    // Bob holds no USDT: a first transfer to him costs the new-holder energy.
    let e = estimate(param.clone()).await;
    assert_eq!(e["result"]["result"], true, "{e}");
    assert_eq!(
        e["energy_required"],
        SimConfig::default().usdt_energy_to_new_holder
    );
    let too_much = format!("{:0>64}{:064x}", hex::encode(bob.evm_bytes()), 10_000 * TRX);
    let e = estimate(too_much).await;
    assert_eq!(e["result"]["code"], "CONTRACT_EXE_ERROR", "{e}");
    assert_eq!(e["result"]["message"], "REVERT opcode executed");
}

#[tokio::test]
async fn getcontract_and_getcontractinfo_carry_the_trc20_abi() {
    let s = sim().await;
    for vis in [false, true] {
        let addr = if vis {
            s.usdt.to_base58()
        } else {
            s.usdt.to_hex()
        };
        let c = s
            .post("wallet/getcontract", json!({"value": addr, "visible": vis}))
            .await;
        assert_eq!(c["contract_address"], addr);
        let names: Vec<&str> = c["abi"]["entrys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        for f in [
            "name",
            "symbol",
            "decimals",
            "balanceOf",
            "transfer",
            "Transfer",
            "Approval",
        ] {
            assert!(names.contains(&f), "{f} in {names:?}");
        }
        let info = s
            .post(
                "wallet/getcontractinfo",
                json!({"value": addr, "visible": vis}),
            )
            .await;
        assert_eq!(info["smart_contract"]["contract_address"], addr);
        assert_eq!(info["runtimecode"], c["bytecode"]);
    }
    let nobody = key(9).address().to_hex();
    assert_eq!(
        s.post("wallet/getcontract", json!({"value": nobody})).await,
        json!({})
    );
    // TronWeb's GET with the address in the query string.
    let url = s
        .sim
        .url()
        .join(&format!("wallet/getcontract?value={}", s.usdt.to_hex()))
        .unwrap();
    let c: Value = s.http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(c["contract_address"], s.usdt.to_hex());
}

#[tokio::test]
async fn getaccountnet_and_getsignweight_answer_for_a_single_key_account() {
    let s = sim().await;
    let net = s
        .post(
            "wallet/getaccountnet",
            json!({"address": s.alice.address().to_base58(), "visible": true}),
        )
        .await;
    assert_eq!(net["freeNetLimit"], 600, "{net}");
    assert!(net["TotalNetLimit"].as_u64().unwrap() > 0);
    assert_eq!(
        s.post(
            "wallet/getaccountnet",
            json!({"address": key(9).address().to_hex()})
        )
        .await,
        json!({})
    );

    let bob = key(2).address();
    let mut tx = s
        .post(
            "wallet/createtransaction",
            json!({"owner_address": s.alice.address().to_hex(), "to_address": bob.to_hex(), "amount": TRX}),
        )
        .await;
    let unsigned = s.post("wallet/getsignweight", tx.clone()).await;
    assert_eq!(
        unsigned["result"]["code"], "NOT_ENOUGH_PERMISSION",
        "{unsigned}"
    );
    assert_eq!(unsigned["transaction"]["transaction"]["txID"], tx["txID"]);
    assert_eq!(unsigned["permission"]["threshold"], 1);
    assert_eq!(
        unsigned["permission"]["keys"][0]["address"],
        s.alice.address().to_hex()
    );
    sign(&mut tx, &s.alice);
    let mut visible = tx.clone();
    visible["visible"] = true.into();
    let signed = s.post("wallet/getsignweight", visible).await;
    assert_eq!(signed["result"]["code"], "ENOUGH_PERMISSION", "{signed}");
    assert_eq!(signed["current_weight"], 1);
    assert_eq!(
        signed["approved_list"],
        json!([s.alice.address().to_base58()])
    );
    let approved = s.post("wallet/getapprovedlist", tx.clone()).await;
    assert_eq!(approved["result"]["code"], "SUCCESS", "{approved}");
    assert_eq!(
        approved["approved_list"],
        json!([s.alice.address().to_hex()])
    );
    sign(&mut tx, &key(3));
    let stranger = s.post("wallet/getsignweight", tx.clone()).await;
    assert_eq!(stranger["result"]["code"], "PERMISSION_ERROR", "{stranger}");
    // `sign` replaced Alice's signature: only the stranger's is there.
    let approved = s.post("wallet/getapprovedlist", tx).await;
    assert_eq!(
        approved["approved_list"],
        json!([key(3).address().to_hex()])
    );
}

#[tokio::test]
async fn transaction_info_honours_visible_for_contract_and_log_addresses() {
    let s = sim().await;
    let bob = key(2).address();
    let param = format!("{:0>64}{:064x}", hex::encode(bob.evm_bytes()), 5 * TRX);
    let built = s
        .post(
            "wallet/triggersmartcontract",
            json!({"owner_address": s.alice.address().to_hex(), "contract_address": s.usdt.to_hex(),
                   "function_selector": "transfer(address,uint256)", "parameter": param, "fee_limit": 100 * TRX}),
        )
        .await;
    let mut tx = built["transaction"].clone();
    sign(&mut tx, &s.alice);
    assert_eq!(
        s.post("wallet/broadcasttransaction", tx.clone()).await["result"],
        true
    );
    let info = |vis: bool| {
        let s = &s;
        let id = tx["txID"].clone();
        async move {
            s.post(
                "wallet/gettransactioninfobyid",
                json!({"value": id, "visible": vis}),
            )
            .await
        }
    };
    let hex_info = eventually(|| async {
        let i = info(false).await;
        i.get("blockNumber").is_some().then_some(i)
    })
    .await;
    assert_eq!(hex_info["contract_address"], s.usdt.to_hex());
    assert_eq!(
        hex_info["log"][0]["address"],
        hex::encode(s.usdt.evm_bytes())
    );
    let b58 = info(true).await;
    assert_eq!(b58["contract_address"], s.usdt.to_base58());
    assert_eq!(b58["log"][0]["address"], s.usdt.to_base58());
    assert_eq!(b58["log"][0]["topics"], hex_info["log"][0]["topics"]);
}

#[tokio::test]
async fn unknown_routes_answer_a_tron_error_object() {
    let s = sim().await;
    for path in [
        "wallet/nosuchroute",
        "walletsolidity/nosuchroute",
        "nothing",
    ] {
        let r = s
            .http
            .post(s.sim.url().join(path).unwrap())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        let error = body["Error"].as_str().unwrap();
        assert!(error.contains(&format!("/{path}")), "{error}");
        assert!(error.contains("docs/tron.md"), "{error}");
    }
}

#[test]
fn accounts_are_printed_funded_and_the_same_for_the_same_seed() {
    let sim = start(&[
        "--accounts",
        "3",
        "--seed",
        "devnet-test",
        "--block-ms",
        "100",
    ]);
    assert_eq!(sim.accounts.len(), 3, "{}", sim.banner);
    let keys = dev_keys("devnet-test", 3);
    for ((addr, key_hex), key) in sim.accounts.iter().zip(&keys) {
        assert_eq!(*addr, key.address().to_base58());
        assert_eq!(
            PrivateKey::from_hex(key_hex).unwrap().address(),
            key.address()
        );
    }
    assert!(
        sim.banner
            .contains("100,000.000000 TRX and 100,000.000000 USDT"),
        "{}",
        sim.banner
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let account = rt.block_on(post(
        &sim.url,
        "wallet/getaccount",
        json!({"address": sim.accounts[2].0, "visible": true}),
    ));
    assert_eq!(account["balance"], 100_000 * TRX, "{account}");
    let other = start(&["--accounts", "1", "--seed", "another"]);
    assert_ne!(other.accounts[0], sim.accounts[0]);
}

/// POSTs `body` to the devnet at `url`.
async fn post(url: &str, path: &str, body: Value) -> Value {
    common::admin::http()
        .post(format!("{url}/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `getaccount` of `address` on the devnet at `url`.
fn balance(url: &str, address: &str) -> Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let account = rt.block_on(post(
        url,
        "wallet/getaccount",
        json!({"address": address, "visible": true}),
    ));
    account["balance"].clone()
}

#[test]
fn state_survives_a_restart_and_a_corrupt_file_is_refused_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("tron-sim-devnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chain.json");
    let state = file.to_str().unwrap();

    let sim = start(&["--accounts", "2", "--state", state, "--block-ms", "50"]);
    let (a0, a1) = (sim.accounts[0].0.clone(), sim.accounts[1].0.clone());
    let k0 = PrivateKey::from_hex(&sim.accounts[0].1).unwrap();
    // Move TRX so the saved chain differs from a fresh one.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let head = rt.block_on(async {
        let mut tx = post(
            &sim.url,
            "wallet/createtransaction",
            json!({"owner_address": a0, "to_address": a1, "amount": 7 * TRX, "visible": true}),
        )
        .await;
        sign(&mut tx, &k0);
        let r = post(&sim.url, "wallet/broadcasttransaction", tx.clone()).await;
        assert_eq!(r["result"], true, "{r}");
        eventually(|| async {
            post(
                &sim.url,
                "wallet/gettransactioninfobyid",
                json!({"value": tx["txID"]}),
            )
            .await["blockNumber"]
                .as_u64()
        })
        .await
    });
    let url = sim.url.clone();
    let before = balance(&url, &a1);
    assert_eq!(before, 100_007 * TRX);
    let stopped = sim.interrupt();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        stopped.stdout.contains("saved the chain to"),
        "{}",
        stopped.stdout
    );

    let again = start(&["--accounts", "2", "--state", state, "--block-ms", "50"]);
    assert!(
        again.banner.contains("resumed the chain in"),
        "{}",
        again.banner
    );
    assert_eq!(
        balance(&again.url, &a1),
        before,
        "the transfer is still there"
    );
    let resumed_head: u64 = again
        .banner
        .split("at block ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(resumed_head >= head, "{resumed_head} < {head}");
    drop(again);

    std::fs::write(&file, b"{\"version\": 1, \"blocks\": [tor").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args(["tron-sim", "--listen", "127.0.0.1:0", "--state", state])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a tron-sim state"), "{err}");
    assert!(err.contains("move it away"), "{err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"{\"version\": 1, \"blocks\": [tor",
        "the corrupt file is left as it was"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `triggerconstantcontract` of `function(parameter)` on `token`: the
/// returned word as a number.
async fn constant_call(url: &str, token: &Address, function: &str, parameter: Vec<u8>) -> u64 {
    let r = post(
        url,
        "wallet/triggerconstantcontract",
        json!({
            "owner_address": token.to_hex(),
            "contract_address": token.to_hex(),
            "function_selector": function,
            "parameter": hex::encode(parameter),
        }),
    )
    .await;
    let word = hex::decode(r["constant_result"][0].as_str().unwrap()).unwrap();
    u64::from_be_bytes(word[24..].try_into().unwrap())
}

/// Broadcasts the JSON transaction `tx` and waits for its receipt.
async fn land(url: &str, tx: &Value) -> Value {
    let r = post(url, "wallet/broadcasttransaction", tx.clone()).await;
    assert_eq!(r["result"], true, "{r}");
    let info = eventually(|| async {
        let info = post(
            url,
            "wallet/gettransactioninfobyid",
            json!({"value": tx["txID"]}),
        )
        .await;
        info.get("blockNumber").is_some().then_some(info)
    })
    .await;
    assert_ne!(info["result"], "FAILED", "{info}");
    info
}

#[test]
fn permissions_token_ledgers_and_allowances_survive_a_restart() {
    use walletops::sim::TokenSpec;
    use walletops::tron::tx::address_word;
    use walletops::tron::tx::{Contract, Permission, PermissionType};

    let dir = std::env::temp_dir().join(format!("tron-sim-multisig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chain.json");
    let args = [
        "--accounts",
        "4",
        "--state",
        file.to_str().unwrap(),
        "--block-ms",
        "50",
        "--token",
        "USDC:6",
    ];
    let usdc = "USDC:6".parse::<TokenSpec>().unwrap().address;
    let usdt: Address = MAINNET_USDT.parse().unwrap();
    let sim = start(&args);
    let keys: Vec<PrivateKey> = sim
        .accounts
        .iter()
        .map(|(_, k)| PrivateKey::from_hex(k).unwrap())
        .collect();
    let (treasury, a, b, spender) = (&keys[0], &keys[1], &keys[2], &keys[3]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = common::chain::client(sim.url.parse().unwrap());
        // A 2-of-2 active permission (id 2) for TRX transfers.
        let update = Contract::AccountPermissionUpdate {
            owner: treasury.address(),
            owner_permission: Permission::single(
                PermissionType::Owner,
                0,
                "owner",
                treasury.address(),
            ),
            witness: None,
            actives: vec![common::chain::active_permission(
                "withdraw",
                2,
                &[1],
                &[a, b],
            )],
        };
        let raw = common::chain::build_on_head(&client, update, walletops::tron::Sun(0)).await;
        let r = common::chain::head_receipt(&client, {
            let tx = raw.sign(treasury);
            client.broadcast(&tx).await.unwrap();
            tx.txid()
        })
        .await;
        assert!(r.succeeded(), "{r:?}");

        // An unlimited USDT allowance (the whole uint256) for the spender,
        // built by the node and signed by the owner key.
        let mut parameter = address_word(&spender.address()).to_vec();
        parameter.extend([0xff; 32]);
        let mut approve = post(
            &sim.url,
            "wallet/triggersmartcontract",
            json!({
                "owner_address": treasury.address().to_hex(),
                "contract_address": usdt.to_hex(),
                "function_selector": "approve(address,uint256)",
                "parameter": hex::encode(parameter),
                "fee_limit": 100 * TRX,
            }),
        )
        .await["transaction"]
            .clone();
        sign(&mut approve, treasury);
        let approved = land(&sim.url, &approve).await;
        // The block routes show the token call's Approval log.
        let infos = post(
            &sim.url,
            "wallet/gettransactioninfobyblocknum",
            json!({"num": approved["blockNumber"]}),
        )
        .await;
        let info = infos
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == approve["txID"])
            .expect("the approve is in its block");
        assert_eq!(
            info["log"][0]["topics"][0],
            "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
            "{info}"
        );

        let funded = post(
            &sim.url,
            "sim/fund",
            json!({"address": treasury.address(), "token": usdc, "token_units": 5_000_000}),
        )
        .await;
        assert!(funded.get("Error").is_none(), "{funded}");
        // Funding lands in the next block.
        eventually(|| async {
            let units = constant_call(
                &sim.url,
                &usdc,
                "balanceOf(address)",
                address_word(&treasury.address()).to_vec(),
            )
            .await;
            (units == 5_000_000).then_some(())
        })
        .await;
    });
    let stopped = sim.interrupt();
    assert!(stopped.status.success(), "{}", stopped.stderr);

    let again = start(&args);
    assert!(
        again.banner.contains("resumed the chain in"),
        "{}",
        again.banner
    );
    rt.block_on(async {
        let account = post(
            &again.url,
            "wallet/getaccount",
            json!({"address": treasury.address().to_base58(), "visible": true}),
        )
        .await;
        let active = &account["active_permission"][0];
        assert_eq!(active["threshold"], 2, "{account}");
        assert_eq!(
            active["keys"],
            json!([
                {"address": a.address().to_base58(), "weight": 1},
                {"address": b.address().to_base58(), "weight": 1},
            ])
        );
        let mut owner_spender = address_word(&treasury.address()).to_vec();
        owner_spender.extend(address_word(&spender.address()));
        let allowance = post(
            &again.url,
            "wallet/triggerconstantcontract",
            json!({
                "owner_address": usdt.to_hex(),
                "contract_address": usdt.to_hex(),
                "function_selector": "allowance(address,address)",
                "parameter": hex::encode(owner_spender),
            }),
        )
        .await;
        assert_eq!(
            allowance["constant_result"][0],
            "f".repeat(64),
            "the unlimited allowance is exact after the restart: {allowance}"
        );
        let usdc_units = constant_call(
            &again.url,
            &usdc,
            "balanceOf(address)",
            address_word(&treasury.address()).to_vec(),
        )
        .await;
        assert_eq!(usdc_units, 5_000_000);
        let contract = post(
            &again.url,
            "wallet/getcontractinfo",
            json!({"value": usdc.to_base58(), "visible": true}),
        )
        .await;
        let smart = &contract["smart_contract"];
        assert_eq!(smart["contract_address"], usdc.to_base58(), "{contract}");
        assert_eq!(smart["name"], "USDC");
        assert!(smart["abi"]["entrys"].as_array().unwrap().len() > 9);

        // The resumed permission signs: a JSON transfer under
        // Permission_id 2, weighed by getsignweight, one signature short,
        // then enough.
        let mut tx = post(
            &again.url,
            "wallet/createtransaction",
            json!({"owner_address": treasury.address().to_hex(), "to_address": spender.address().to_hex(), "amount": 3 * TRX}),
        )
        .await;
        tx["raw_data"]["contract"][0]["Permission_id"] = 2.into();
        let unsigned = post(&again.url, "wallet/getsignweight", tx.clone()).await;
        assert_eq!(unsigned["result"]["code"], "NOT_ENOUGH_PERMISSION", "{unsigned}");
        assert_eq!(unsigned["permission"]["permission_name"], "withdraw");
        assert_eq!(unsigned["permission"]["threshold"], 2);
        // The node's txID covers Permission_id; sign what it hashed.
        let rebuilt = &unsigned["transaction"]["transaction"];
        tx["txID"] = rebuilt["txID"].clone();
        tx["raw_data_hex"] = rebuilt["raw_data_hex"].clone();
        let raw = RawTransaction::decode(&hex::decode(tx["raw_data_hex"].as_str().unwrap()).unwrap())
            .unwrap();
        assert_eq!(raw.permission_id, 2);
        let one = raw.sign(a);
        tx["signature"] = json!([hex::encode(&one.signatures()[0])]);
        let half = post(&again.url, "wallet/getsignweight", tx.clone()).await;
        assert_eq!(half["result"]["code"], "NOT_ENOUGH_PERMISSION", "{half}");
        assert_eq!(half["current_weight"], 1);
        assert_eq!(half["approved_list"], json!([a.address().to_hex()]));
        let refused = post(&again.url, "wallet/broadcasttransaction", tx.clone()).await;
        assert_eq!(refused["code"], "SIGERROR", "{refused}");
        let both = one.cosign(b);
        tx["signature"] = both.signatures().iter().map(hex::encode).collect();
        let full = post(&again.url, "wallet/getsignweight", tx.clone()).await;
        assert_eq!(full["result"]["code"], "ENOUGH_PERMISSION", "{full}");
        assert_eq!(full["current_weight"], 2);
        let spender_trx = || async {
            post(
                &again.url,
                "wallet/getaccount",
                json!({"address": spender.address().to_hex()}),
            )
            .await["balance"]
                .as_u64()
                .unwrap()
        };
        let before = spender_trx().await;
        let landed = land(&again.url, &tx).await;
        assert_eq!(spender_trx().await, before + 3 * TRX);
        // Its block shows the permission it was signed under.
        let block = post(
            &again.url,
            "wallet/getblockbynum",
            json!({"num": landed["blockNumber"], "visible": true}),
        )
        .await;
        let in_block = block["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["txID"] == tx["txID"])
            .expect("the transfer is in its block");
        assert_eq!(in_block["raw_data"]["contract"][0]["Permission_id"], 2);
        assert_eq!(in_block["signature"].as_array().unwrap().len(), 2);
    });
    drop(again);
    std::fs::remove_dir_all(&dir).unwrap();
}
