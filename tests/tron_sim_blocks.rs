//! The simulator's blocks over real HTTP, in java-tron's shapes (both
//! `visible` ways, head and solidified views), the client's typed block
//! reads, pruning, forks, the load generator and the request counts.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::chain::{client, eventually, key, sign};
use serde_json::{Value, json};
use walletops::sim::{SimConfig, SimHandle, Simulator, seeded_address};
use walletops::tron::client::{BlockId, ClientError, ListQuery, MAX_BLOCK_RANGE, TronClient, View};
use walletops::tron::tx::{Contract, SignedTransaction, parse_trc20_transfer};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};

struct Fixture {
    sim: SimHandle,
    client: TronClient,
    http: reqwest::Client,
    usdt: Address,
}

async fn fixture_with(block_ms: u64, solidify_blocks: u64) -> Fixture {
    let sim = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(block_ms),
        solidify_blocks,
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

async fn fixture() -> Fixture {
    fixture_with(50, 3).await
}

impl Fixture {
    /// POSTs to a route; the status and the JSON answer.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.sim.url().join(path).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A node route, which answers HTTP 200 whatever happens.
    async fn node(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post(path, body).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.sim.url().join(path).unwrap())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}");
        r.json().await.unwrap()
    }

    async fn fund(&self, addr: &Address, trx_sun: u64, usdt: u64) {
        let (status, v) = self
            .post(
                "/sim/fund",
                json!({"address": addr, "trx_sun": trx_sun, "usdt": usdt}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }

    /// Sends and waits until the head view has it; its block number.
    async fn land(&self, tx: &SignedTransaction) -> u64 {
        self.client.broadcast(tx).await.unwrap();
        let txid = tx.txid();
        eventually(|| async {
            self.client
                .transaction_info(&txid, View::Head)
                .await
                .unwrap()
                .map(|i| i.block_number)
        })
        .await
    }

    async fn head(&self) -> u64 {
        self.client.block(View::Head).await.unwrap().number
    }

    /// Waits until block `n` is solidified.
    async fn solidified(&self, n: u64) {
        eventually(|| async {
            (self.client.block(View::Solidified).await.unwrap().number >= n).then_some(())
        })
        .await;
    }
}

/// A TRX transfer from alice to bob and a USDT transfer from alice to carol,
/// both landed; their block numbers.
async fn two_transfers(f: &Fixture) -> (PrivateKey, [SignedTransaction; 2], [u64; 2]) {
    let alice = key(1);
    f.fund(&alice.address(), 100_000_000, 5_000_000).await;
    let trx = Contract::Transfer {
        owner: alice.address(),
        to: key(2).address(),
        amount: Sun(3_000_000),
    };
    let trx = sign(&f.client, trx, Sun::ZERO, &alice).await;
    let usdt = Contract::trc20_transfer(
        alice.address(),
        f.usdt,
        key(3).address(),
        TokenUnits(1_250_000),
    );
    let usdt = sign(&f.client, usdt, Sun(100_000_000), &alice).await;
    let blocks = [f.land(&trx).await, f.land(&usdt).await];
    (alice, [trx, usdt], blocks)
}

fn tx_in<'a>(block: &'a Value, tx: &SignedTransaction) -> &'a Value {
    block["transactions"]
        .as_array()
        .unwrap_or_else(|| panic!("block without transactions: {block}"))
        .iter()
        .find(|t| t["txID"] == tx.txid().to_hex())
        .unwrap_or_else(|| panic!("{} not in {block}", tx.txid()))
}

#[tokio::test]
async fn blocks_come_in_the_nodes_shapes_with_addresses_hex_or_base58() {
    let f = fixture().await;
    let (alice, [trx, _], [n, _]) = two_transfers(&f).await;

    let hex_block = f.node("/wallet/getblockbynum", json!({"num": n})).await;
    let header = &hex_block["block_header"]["raw_data"];
    assert_eq!(header["number"], n);
    assert!(header["timestamp"].as_i64().unwrap() > 0);
    let id = hex_block["blockID"].as_str().unwrap();
    assert_eq!(
        &id[..16],
        format!("{n:016x}"),
        "the blockID starts with the number"
    );
    let parent = f.node("/wallet/getblockbynum", json!({"num": n - 1})).await;
    assert_eq!(header["parentHash"], parent["blockID"]);
    let witness = header["witness_address"].as_str().unwrap();
    assert!(
        witness.starts_with("41") && witness.len() == 42,
        "{witness}"
    );
    let t = tx_in(&hex_block, &trx);
    assert_eq!(t["raw_data_hex"], hex::encode(trx.raw_bytes()));
    assert_eq!(t["signature"][0], hex::encode(&trx.signatures()[0]));
    assert_eq!(t["ret"][0]["contractRet"], "SUCCESS");
    let contract = &t["raw_data"]["contract"][0];
    assert_eq!(contract["type"], "TransferContract");
    assert_eq!(
        contract["parameter"]["value"]["owner_address"],
        alice.address().to_hex()
    );
    assert_eq!(contract["parameter"]["value"]["amount"], 3_000_000);
    assert!(
        t.get("visible").is_none(),
        "blocks carry no visible flag: {t}"
    );

    let b58_block = f
        .node("/wallet/getblockbynum", json!({"num": n, "visible": true}))
        .await;
    let b58 = &b58_block["block_header"]["raw_data"]["witness_address"];
    assert!(b58.as_str().unwrap().starts_with('T'), "{b58}");
    let value = &tx_in(&b58_block, &trx)["raw_data"]["contract"][0]["parameter"]["value"];
    assert_eq!(value["owner_address"], alice.address().to_base58());
    assert_eq!(value["to_address"], key(2).address().to_base58());
    assert_eq!(b58_block["blockID"], hex_block["blockID"]);

    // The same block by id, by GET with query parameters, and by getblock.
    assert_eq!(
        f.node("/wallet/getblockbyid", json!({"value": id})).await,
        hex_block
    );
    assert_eq!(
        f.get(&format!("/wallet/getblockbynum?num={n}")).await,
        hex_block
    );
    assert_eq!(
        f.node(
            "/wallet/getblock",
            json!({"id_or_num": n.to_string(), "detail": true})
        )
        .await,
        hex_block
    );
    assert_eq!(
        f.node("/wallet/getblock", json!({"id_or_num": id, "detail": true}))
            .await,
        hex_block
    );
    // Without detail a block comes without its transactions.
    let bare = f
        .node("/wallet/getblock", json!({"id_or_num": n.to_string()}))
        .await;
    assert!(bare.get("transactions").is_none(), "{bare}");
    assert_eq!(bare["blockID"], hex_block["blockID"]);
    let now = f.node("/wallet/getblock", json!({})).await;
    assert!(now["block_header"]["raw_data"]["number"].as_u64().unwrap() >= n);

    // What the node answers for blocks it does not have and bad input.
    let future = n + 1_000_000;
    assert_eq!(
        f.node("/wallet/getblockbynum", json!({"num": future}))
            .await,
        json!({})
    );
    assert_eq!(
        f.node("/wallet/getblock", json!({"id_or_num": future.to_string()}))
            .await,
        json!({})
    );
    assert_eq!(
        f.node("/wallet/getblock", json!({"id_or_num": "-1"})).await,
        json!({"Error": "num must be non-positive number."})
    );
    assert_eq!(
        f.node("/wallet/getblock", json!({"id_or_num": "abc"}))
            .await,
        json!({"Error": "id must be legal block hash."})
    );
    let unknown = format!("{n:016x}{}", "ab".repeat(24));
    assert_eq!(
        f.node("/wallet/getblockbyid", json!({"value": unknown}))
            .await,
        json!({})
    );
    let bad = f
        .node("/wallet/getblockbynum", json!({"num": "many"}))
        .await;
    assert!(
        bad["Error"]
            .as_str()
            .unwrap()
            .contains("num must be an integer"),
        "{bad}"
    );
    // Genesis is block 0: its number is a proto3 default, left out.
    let genesis = f.node("/wallet/getblockbynum", json!({"num": 0})).await;
    assert!(
        genesis["block_header"]["raw_data"].get("number").is_none(),
        "{genesis}"
    );
    assert!(genesis.get("transactions").is_none());
}

#[tokio::test]
async fn receipts_by_block_carry_the_trc20_transfer_log_as_the_node_renders_it() {
    let f = fixture().await;
    let (alice, [_, usdt], [_, n]) = two_transfers(&f).await;

    let hex_infos = f
        .node("/wallet/gettransactioninfobyblocknum", json!({"num": n}))
        .await;
    let info = hex_infos
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == usdt.txid().to_hex())
        .unwrap();
    assert_eq!(info["blockNumber"], n);
    assert_eq!(info["contract_address"], f.usdt.to_hex());
    assert_eq!(info["receipt"]["result"], "SUCCESS");
    let log = &info["log"][0];
    assert_eq!(log["address"], hex::encode(f.usdt.evm_bytes()));
    assert_eq!(
        log["topics"][0],
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    );
    assert_eq!(
        log["topics"][1],
        format!("{:0>64}", hex::encode(alice.address().evm_bytes()))
    );
    assert_eq!(
        log["topics"][2],
        format!("{:0>64}", hex::encode(key(3).address().evm_bytes()))
    );
    assert_eq!(log["data"], format!("{:064x}", 1_250_000));

    let b58_infos = f
        .node(
            "/wallet/gettransactioninfobyblocknum",
            json!({"num": n, "visible": true}),
        )
        .await;
    let b58 = b58_infos
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == usdt.txid().to_hex())
        .unwrap();
    assert_eq!(b58["contract_address"], f.usdt.to_base58());
    assert_eq!(b58["log"][0]["address"], f.usdt.to_base58());
    assert_eq!(b58["log"][0]["topics"], log["topics"]);

    // The client parses them into TRC-20 transfers.
    let infos = f
        .client
        .transaction_infos_by_block(n, View::Head)
        .await
        .unwrap();
    let transfers: Vec<_> = infos
        .iter()
        .flat_map(|i| i.trc20_transfers(&f.usdt))
        .collect();
    assert_eq!(transfers.len(), 1);
    assert_eq!(
        (transfers[0].from, transfers[0].to, transfers[0].amount),
        (alice.address(), key(3).address(), TokenUnits(1_250_000))
    );

    // The node's answers for block 0 and for a block it does not have.
    assert_eq!(
        f.node("/wallet/gettransactioninfobyblocknum", json!({"num": 0}))
            .await,
        json!({})
    );
    assert_eq!(
        f.node(
            "/wallet/gettransactioninfobyblocknum",
            json!({"num": n + 1_000_000})
        )
        .await,
        json!([])
    );
    assert!(
        f.client
            .transaction_infos_by_block(0, View::Head)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_client_reads_blocks_typed() {
    let f = fixture().await;
    let (alice, [trx, usdt], [n_trx, n_usdt]) = two_transfers(&f).await;

    let block = f.client.block_by_num(n_trx, View::Head).await.unwrap();
    assert_eq!(block.number, n_trx);
    assert_eq!(block.id.number(), n_trx);
    let parent = f.client.block_by_num(n_trx - 1, View::Head).await.unwrap();
    assert_eq!(block.parent, parent.id);
    let t = block
        .transactions
        .iter()
        .find(|t| t.txid == trx.txid())
        .unwrap();
    assert!(t.succeeded());
    assert_eq!(t.contract_type, "TransferContract");
    assert_eq!(
        t.contract,
        Some(Contract::Transfer {
            owner: alice.address(),
            to: key(2).address(),
            amount: Sun(3_000_000)
        })
    );

    let block = f.client.block_by_num(n_usdt, View::Head).await.unwrap();
    let t = block
        .transactions
        .iter()
        .find(|t| t.txid == usdt.txid())
        .unwrap();
    assert_eq!(t.contract_type, "TriggerSmartContract");
    let Some(Contract::TriggerSmartContract {
        owner,
        contract,
        data,
        ..
    }) = &t.contract
    else {
        panic!("{t:?}");
    };
    assert_eq!((*owner, *contract), (alice.address(), f.usdt));
    assert_eq!(
        parse_trc20_transfer(data),
        Some((key(3).address(), TokenUnits(1_250_000)))
    );

    // A range in one request: consecutive blocks from the start asked.
    let range = f
        .client
        .blocks(n_trx - 1..n_usdt + 1, View::Head)
        .await
        .unwrap();
    let numbers: Vec<u64> = range.iter().map(|b| b.number).collect();
    assert_eq!(numbers, (n_trx - 1..=n_usdt).collect::<Vec<_>>());
    for pair in range.windows(2) {
        assert_eq!(pair[1].parent, pair[0].id);
    }
    assert!(
        range
            .iter()
            .any(|b| b.transactions.iter().any(|t| t.txid == usdt.txid()))
    );
    // Past the head the range stops at the head; beyond it nothing.
    let head = f.head().await;
    let tail = f
        .client
        .blocks(head..head + MAX_BLOCK_RANGE, View::Head)
        .await
        .unwrap();
    assert!(tail[0].number == head && tail.len() < MAX_BLOCK_RANGE as usize);
    let future = head + 1_000;
    assert!(matches!(
        f.client.blocks(future..future + 5, View::Head).await,
        Err(ClientError::BlockUnavailable { number }) if number == future
    ));
    assert!(matches!(
        f.client.block_by_num(future, View::Head).await,
        Err(ClientError::BlockUnavailable { number }) if number == future
    ));
    assert!(matches!(
        f.client.blocks(1..2 + MAX_BLOCK_RANGE, View::Head).await,
        Err(ClientError::Invalid(_))
    ));
    assert!(matches!(
        f.client.blocks(5..5, View::Head).await,
        Err(ClientError::Invalid(_))
    ));
    let id: BlockId = block.id.to_hex().parse().unwrap();
    assert_eq!(id, block.id);
}

#[tokio::test]
async fn ranges_and_latest_blocks_follow_the_nodes_limits() {
    let f = fixture().await;
    eventually(|| async { (f.head().await >= 8).then_some(()) }).await;

    let latest = f
        .node("/wallet/getblockbylatestnum", json!({"num": 5}))
        .await;
    let numbers: Vec<u64> = latest["block"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["block_header"]["raw_data"]["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers.len(), 5);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    // 0 < num < 100, else {}.
    for num in [0, 100, -1] {
        assert_eq!(
            f.node("/wallet/getblockbylatestnum", json!({"num": num}))
                .await,
            json!({})
        );
    }

    let next = f
        .node(
            "/wallet/getblockbylimitnext",
            json!({"startNum": 2, "endNum": 6}),
        )
        .await;
    let numbers: Vec<u64> = next["block"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["block_header"]["raw_data"]["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![2, 3, 4, 5], "endNum is exclusive");
    let get = f
        .get("/wallet/getblockbylimitnext?startNum=2&endNum=6")
        .await;
    assert_eq!(get, next);
    // At most 100 blocks, end after start, else {}.
    for (start, end) in [(1, 102), (6, 6), (6, 2), (0, 0)] {
        assert_eq!(
            f.node(
                "/wallet/getblockbylimitnext",
                json!({"startNum": start, "endNum": end})
            )
            .await,
            json!({}),
            "{start}..{end}"
        );
    }
    assert_eq!(
        f.node(
            "/wallet/getblockbylimitnext",
            json!({"startNum": 1_000_000, "endNum": 1_000_010})
        )
        .await,
        json!({"block": []})
    );
}

#[tokio::test]
async fn the_solidified_twins_answer_only_up_to_the_solidified_head() {
    let f = fixture_with(200, 4).await;
    let (_, [trx, _], [n, _]) = two_transfers(&f).await;
    let head = f.head().await;
    let solid = f.client.block(View::Solidified).await.unwrap().number;
    assert!(
        solid < n && n <= head,
        "solid {solid}, block {n}, head {head}"
    );

    assert_eq!(
        f.node("/walletsolidity/getblockbynum", json!({"num": n}))
            .await,
        json!({})
    );
    assert!(matches!(
        f.client.block_by_num(n, View::Solidified).await,
        Err(ClientError::BlockUnavailable { .. })
    ));
    assert_eq!(
        f.node(
            "/walletsolidity/gettransactioninfobyblocknum",
            json!({"num": n})
        )
        .await,
        json!([])
    );
    let latest = f
        .node("/walletsolidity/getblockbylatestnum", json!({"num": 1}))
        .await;
    // Block 0's number is a proto3 default, left out.
    let number = |b: &Value| {
        b["block_header"]["raw_data"]["number"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(number(&latest["block"][0]), solid);
    let now = f.node("/walletsolidity/getnowblock", json!({})).await;
    assert_eq!(number(&now), solid);
    let range = f
        .client
        .blocks(solid..solid + 50, View::Solidified)
        .await
        .unwrap();
    assert_eq!(range.len(), 1, "the range stops at the solidified head");

    f.solidified(n).await;
    let block = f.client.block_by_num(n, View::Solidified).await.unwrap();
    assert!(block.transactions.iter().any(|t| t.txid == trx.txid()));
    assert_eq!(block, f.client.block_by_num(n, View::Head).await.unwrap());
    let byid = f
        .node(
            "/walletsolidity/getblockbyid",
            json!({"value": block.id.to_hex()}),
        )
        .await;
    assert_eq!(byid["blockID"], block.id.to_hex());
    let infos = f
        .client
        .transaction_infos_by_block(n, View::Solidified)
        .await
        .unwrap();
    assert_eq!(infos.len(), block.transactions.len());
}

#[tokio::test]
async fn pruned_blocks_answer_as_on_a_node_that_no_longer_has_them() {
    let f = fixture().await;
    let (_, [trx, _], [n, _]) = two_transfers(&f).await;
    f.solidified(n + 1).await;

    // Pruning at or above the solidified head is refused, and changes nothing.
    let (status, err) = f.post("/sim/prune", json!({"below": n + 10_000})).await;
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("solidified head"),
        "{err}"
    );
    f.client.block_by_num(1, View::Head).await.unwrap();
    let (status, _) = f.post("/sim/prune", json!({"bellow": 3})).await;
    assert_eq!(status, 400);

    let (status, pruned) = f.post("/sim/prune", json!({"below": n + 1})).await;
    assert_eq!(status, 200, "{pruned}");
    assert_eq!(pruned["first_block"], n + 1);
    assert_eq!(pruned["blocks"], n + 1);
    assert!(pruned["transactions"].as_u64().unwrap() >= 1);

    assert_eq!(
        f.node("/wallet/getblockbynum", json!({"num": n})).await,
        json!({})
    );
    assert!(matches!(
        f.client.block_by_num(n, View::Head).await,
        Err(ClientError::BlockUnavailable { number }) if number == n
    ));
    assert!(matches!(
        f.client.blocks(n - 1..n + 3, View::Solidified).await,
        Err(ClientError::BlockUnavailable { number }) if number == n - 1
    ));
    // The node's store gives the next blocks it has from a pruned start.
    let next = f
        .node(
            "/wallet/getblockbylimitnext",
            json!({"startNum": 0, "endNum": 3}),
        )
        .await;
    assert_eq!(
        next["block"][0]["block_header"]["raw_data"]["number"],
        n + 1
    );
    assert_eq!(
        f.node("/wallet/gettransactioninfobyblocknum", json!({"num": n}))
            .await,
        json!([])
    );
    assert_eq!(
        f.client.transaction(&trx.txid(), View::Head).await.unwrap(),
        None
    );
    assert_eq!(
        f.client
            .block_by_num(n + 1, View::Head)
            .await
            .unwrap()
            .number,
        n + 1
    );
    let stats = f.get("/sim/stats").await;
    assert_eq!(stats["first_block"], n + 1);
}

#[tokio::test]
async fn keep_blocks_prunes_as_the_chain_grows() {
    let sim = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(20),
        solidify_blocks: 3,
        keep_blocks: Some(5),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = client(sim.url().clone());
    let head = eventually(|| async {
        let h = client.block(View::Head).await.unwrap().number;
        (h >= 12).then_some(h)
    })
    .await;
    assert!(matches!(
        client.block_by_num(2, View::Head).await,
        Err(ClientError::BlockUnavailable { number: 2 })
    ));
    // The solidified head is kept whatever the setting.
    client.block(View::Solidified).await.unwrap();
    assert!(client.block_by_num(head, View::Head).await.is_ok());
}

#[tokio::test]
async fn a_fork_changes_the_hashes_above_the_solidified_head_and_moves_their_transactions() {
    let f = fixture_with(100, 100).await;
    let (alice, [trx, usdt], [n_trx, n_usdt]) = two_transfers(&f).await;
    let before = f.client.block_by_num(n_trx, View::Head).await.unwrap();
    let bob_before = f.client.trx_balance(&key(2).address()).await.unwrap();

    // Bad depths are refused: 0, or reaching the solidified blocks.
    let (status, _) = f.post("/sim/fork", json!({"depth": 0})).await;
    assert_eq!(status, 400);
    let (status, err) = f.post("/sim/fork", json!({"depth": 100_000})).await;
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("solidified head"),
        "{err}"
    );

    // Deep enough to reach n_trx even if blocks are made meanwhile.
    let head = f.head().await;
    let depth = (head + 3 - n_trx).min(head);
    let (status, fork) = f.post("/sim/fork", json!({"depth": depth})).await;
    assert_eq!(status, 200, "{fork}");
    let from = fork["from_block"].as_u64().unwrap();
    assert!(from <= n_trx, "{fork}");
    assert!(
        fork["orphaned"]
            .as_array()
            .unwrap()
            .contains(&json!(before.id.to_hex()))
    );
    assert_eq!(fork["vanished"], json!([]));

    // Same number, another hash; the parent link holds across the fork.
    let after = f.client.block_by_num(n_trx, View::Head).await.unwrap();
    assert_ne!(after.id, before.id);
    let parent = f.client.block_by_num(n_trx - 1, View::Head).await.unwrap();
    assert_eq!(after.parent, parent.id);
    assert_eq!(
        f.node("/wallet/getblockbyid", json!({"value": before.id.to_hex()}))
            .await,
        json!({}),
        "an orphaned block is no longer served"
    );
    // Each transaction moved one block later, with the same effect.
    for (tx, n) in [(&trx, n_trx), (&usdt, n_usdt)] {
        let moved = eventually(|| async {
            f.client
                .transaction_info(&tx.txid(), View::Head)
                .await
                .unwrap()
        })
        .await;
        assert_eq!(moved.block_number, n + 1, "{}", tx.txid());
        assert!(moved.succeeded());
    }
    assert_eq!(
        f.client.trx_balance(&key(2).address()).await.unwrap(),
        bob_before
    );
    // Bob's history holds the moved transfer once, in its new block.
    let history = |f: &'_ Fixture| {
        let bob = key(2).address();
        let client = f.client.clone();
        async move {
            client
                .v1_transactions(&bob, &ListQuery::default())
                .await
                .unwrap()
                .items
                .iter()
                .map(|t| (t.txid, t.block_number))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(history(&f).await, vec![(trx.txid(), n_trx + 1)]);

    // A fork that drops its transactions undoes what they did.
    let n = f
        .client
        .transaction_info(&trx.txid(), View::Head)
        .await
        .unwrap()
        .unwrap()
        .block_number;
    let head = f.head().await;
    let (status, fork) = f
        .post(
            "/sim/fork",
            json!({"depth": (head + 3 - n).min(head), "vanish": 1.0}),
        )
        .await;
    assert_eq!(status, 200, "{fork}");
    let vanished = fork["vanished"].as_array().unwrap();
    assert!(vanished.contains(&json!(trx.txid().to_hex())), "{fork}");
    assert_eq!(
        f.client
            .transaction_info(&trx.txid(), View::Head)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.client.trx_balance(&key(2).address()).await.unwrap(),
        Sun::ZERO
    );
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &key(3).address())
            .await
            .unwrap(),
        TokenUnits(0)
    );
    assert_eq!(history(&f).await, vec![]);
    // The node forgot them: the same signed bytes may be sent again, and land.
    let again = f.land(&trx).await;
    assert!(again > n);
    assert_eq!(history(&f).await, vec![(trx.txid(), again)]);
    let ledger = f.get("/sim/ledger").await;
    assert!(
        ledger["dropped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["reason"].as_str().unwrap().contains("fork"))
    );
    // The vanished USDT transfer is undone on the sender's side too.
    assert_eq!(
        f.client
            .trc20_balance(&f.usdt, &alice.address())
            .await
            .unwrap(),
        TokenUnits(5_000_000)
    );
}

#[tokio::test]
async fn the_fork_fault_reorganises_blocks_before_they_solidify() {
    let f = fixture_with(50, 6).await;
    let (status, _) = f.post("/sim/faults", json!({"fork": {"depth": 0}})).await;
    assert_eq!(status, 400);
    let (status, _) = f
        .post("/sim/faults", json!({"fork": {"depth": 2, "rate": 1.5}}))
        .await;
    assert_eq!(status, 400);
    eventually(|| async { (f.head().await >= 8).then_some(()) }).await;
    let (status, v) = f
        .post("/sim/faults", json!({"fork": {"depth": 2, "rate": 1.0}}))
        .await;
    assert_eq!(status, 200, "{v}");
    // Watch block head-1 at the head view: it changes hash before it solidifies.
    let n = f.head().await;
    let first = f.client.block_by_num(n, View::Head).await.unwrap().id;
    eventually(|| async {
        let now = f.client.block_by_num(n, View::Head).await.unwrap().id;
        (now != first).then_some(())
    })
    .await;
    f.post("/sim/faults", json!({})).await;
    f.solidified(n).await;
    let solid = f.client.block_by_num(n, View::Solidified).await.unwrap();
    assert_ne!(solid.id, first);
}

#[tokio::test]
async fn the_load_generator_lands_deposits_to_targets_among_stranger_traffic() {
    let f = fixture().await;
    let targets = [key(7).address(), key(8).address()];
    let (status, v) = f
        .post(
            "/sim/deposits",
            json!({
                "trx": 2, "usdt": 3, "strangers": 4, "blocks": 3,
                "targets": {"addresses": targets},
                "trx_sun": 2_000_000, "usdt_units": 500_000,
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["generator"]["targets"], 2);
    eventually(|| async {
        f.get("/sim/deposits").await["generator"]
            .is_null()
            .then_some(())
    })
    .await;
    let head = f.head().await;
    let done = f.get("/sim/deposits").await;
    let deposits = done["deposits"].as_array().unwrap();
    assert_eq!(deposits.len(), 15, "{done}");
    let trx: Vec<_> = deposits.iter().filter(|d| d["asset"] == "TRX").collect();
    assert_eq!(trx.len(), 6);
    let blocks: HashSet<u64> = deposits
        .iter()
        .map(|d| d["block"].as_u64().unwrap())
        .collect();
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    for d in deposits {
        assert!(targets.iter().any(|t| d["to"] == json!(t)), "{d}");
        assert_eq!(d["result"], "SUCCESS");
    }

    // The balances add up, and the blocks carry the strangers' transfers too.
    let mut trx_total = Sun::ZERO;
    let mut usdt_total = 0;
    for t in &targets {
        trx_total = Sun(trx_total.0 + f.client.trx_balance(t).await.unwrap().0);
        usdt_total += f.client.trc20_balance(&f.usdt, t).await.unwrap().0;
    }
    assert_eq!(trx_total, Sun(6 * 2_000_000));
    assert_eq!(usdt_total, 9 * 500_000);
    for n in &blocks {
        let block = f.client.block_by_num(*n, View::Head).await.unwrap();
        assert_eq!(block.transactions.len(), 9, "block {n}");
        let to_targets = block
            .transactions
            .iter()
            .filter(|t| match &t.contract {
                Some(Contract::Transfer { to, .. }) => targets.contains(to),
                Some(Contract::TriggerSmartContract { data, .. }) => {
                    parse_trc20_transfer(data).is_some_and(|(to, _)| targets.contains(&to))
                }
                _ => false,
            })
            .count();
        assert_eq!(to_targets, 5, "block {n}");
        let infos = f
            .client
            .transaction_infos_by_block(*n, View::Head)
            .await
            .unwrap();
        let usdt_logs: usize = infos.iter().map(|i| i.trc20_transfers(&f.usdt).len()).sum();
        assert_eq!(
            usdt_logs,
            3 + 2,
            "3 deposits and 2 of 4 stranger transfers in USDT"
        );
    }
    let (range_from, range_to) = (blocks.iter().min().unwrap(), blocks.iter().max().unwrap());
    let some = f
        .get(&format!("/sim/deposits?from={range_from}&to={range_to}"))
        .await;
    assert_eq!(some["deposits"].as_array().unwrap().len(), 10);
    // Stopped: no more deposits land.
    eventually(|| async { (f.head().await >= head + 3).then_some(()) }).await;
    assert_eq!(
        f.get("/sim/deposits").await["deposits"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
}

#[tokio::test]
async fn seeded_and_file_targets_reach_a_million_addresses_without_a_list() {
    let f = fixture().await;
    let (status, v) = f
        .post(
            "/sim/deposits",
            json!({"usdt": 20, "targets": {"seeded": {"seed": 42, "count": 1_000_000}}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["generator"]["targets"], 1_000_000);
    let deposits = eventually(|| async {
        let d = f.get("/sim/deposits").await["deposits"].clone();
        (d.as_array().unwrap().len() >= 40).then_some(d)
    })
    .await;
    let (status, stopped) = {
        let r = f
            .http
            .delete(f.sim.url().join("/sim/deposits").unwrap())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(stopped["generator"]["usdt"], 20);
    // Each recipient is seeded_address(42, i) for some i: walletops can make
    // the same set.
    let recipients: BTreeSet<Address> = deposits
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["to"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(recipients.len() > 30, "random picks among a million");
    let found = (0..1_000_000u64)
        .filter(|i| recipients.contains(&seeded_address(42, *i)))
        .count();
    assert_eq!(found, recipients.len());

    let dir = std::env::temp_dir().join(format!("sim-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.txt");
    let listed = [key(20).address(), key(21).address()];
    std::fs::write(&file, format!("{}\n\n{}\n", listed[0], listed[1].to_hex())).unwrap();
    let (status, v) = f
        .post(
            "/sim/deposits",
            json!({"trx": 4, "blocks": 1, "targets": {"file": file}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    eventually(|| async {
        let b = f.client.trx_balance(&listed[0]).await.unwrap().0
            + f.client.trx_balance(&listed[1]).await.unwrap().0;
        (b == 4_000_000).then_some(())
    })
    .await;

    // Bad plans are refused with what to do, and change nothing.
    std::fs::write(&file, "TNotAnAddress\n").unwrap();
    for (plan, says) in [
        (json!({"trx": 1}), "need targets"),
        (
            json!({"trx": 1, "targets": {"file": dir.join("missing.txt")}}),
            "missing.txt",
        ),
        (
            json!({"trx": 1, "targets": {"file": file}}),
            "targets.txt:1",
        ),
        (json!({}), "nothing to generate"),
        (
            json!({"trx": 1, "targets": {"seeded": {"seed": 1, "count": 0}}}),
            "need targets",
        ),
        (json!({"trx": 1, "typo": 2}), "unknown field"),
    ] {
        let (status, err) = f.post("/sim/deposits", plan.clone()).await;
        assert_eq!(status, 400, "{plan}");
        assert!(
            err["error"].as_str().unwrap().contains(says),
            "{plan}: {err}"
        );
    }
    assert!(f.get("/sim/deposits").await["generator"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn stats_count_the_requests_each_route_served() {
    let f = fixture().await;
    let before = f.get("/sim/stats").await;
    assert_eq!(before["total"], 0);
    for n in 0..3 {
        f.node("/wallet/getblockbynum", json!({"num": n})).await;
    }
    f.get("/walletsolidity/getnowblock").await;
    f.client.v1_account(&key(1).address()).await.unwrap();
    f.client.v1_account(&key(2).address()).await.unwrap();
    let stats = f.get("/sim/stats").await;
    let requests = &stats["requests"];
    assert_eq!(requests["/wallet/getblockbynum"], 3);
    assert_eq!(requests["/walletsolidity/getnowblock"], 1);
    assert_eq!(requests["/v1/accounts/{address}"], 2, "{stats}");
    assert_eq!(stats["total"], 6);
    assert!(stats["since_ms"].as_i64().unwrap() <= stats["at_ms"].as_i64().unwrap());
    assert!(stats["head_block"].as_u64().is_some());
}
