//! Blocks in java-tron's shapes: `getblock`, `getblockbynum`,
//! `getblockbyid`, `getblockbylatestnum`, `getblockbylimitnext`,
//! `getnowblock` and `gettransactioninfobyblocknum`, under `/wallet` (up to
//! the head) and `/walletsolidity` (up to the solidified head), by POST with
//! a JSON body or GET with query parameters, as the node serves them. A
//! block the node does not have (pruned, or not produced or solidified
//! yet) is `{}`; its receipts are `[]`.
//!
//! And the simulator's controls around blocks: the load generator
//! (`/sim/deposits`), request counts (`/sim/stats`), pruning (`/sim/prune`)
//! and forks (`/sim/fork`).
//!
//! A reader copies what it needs under the chain lock (the transactions are
//! shared, so that is cheap) and renders the JSON after releasing it:
//! reading blocks of thousands of transactions does not hold up block
//! production or broadcasts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Map, Value, json};

use super::chain::{Block, Chain, Executed, Origin};
use super::loadgen::{LoadGen, Plan};
use super::routes::{
    Shr, body, info_json, lock, node_error, put, show, sim_bad, transaction_json, visible,
};
use super::{Shared, now_ms};
use crate::tron::address::Address;
use crate::tron::tx::SignedTransaction;

/// The node's cap on `getblockbylatestnum` and `getblockbylimitnext`
/// (`BLOCK_LIMIT_NUM`).
const BLOCK_LIMIT: u64 = 100;

/// The simulator's one witness, which produces every block.
const WITNESS: [u8; 20] = [0; 20];

type Handler = fn(&Shared, &Value, bool) -> Value;

pub(super) fn node_routes() -> Router<Arc<Shared>> {
    let mut r = Router::new();
    let routes: [(&str, Handler); 7] = [
        ("getblock", get_block),
        ("getblockbynum", by_num),
        ("getblockbyid", by_id),
        ("getblockbylatestnum", latest),
        ("getblockbylimitnext", limit_next),
        ("getnowblock", now_block),
        ("gettransactioninfobyblocknum", infos_by_num),
    ];
    for (name, handler) in routes {
        r = r
            .route(&format!("/wallet/{name}"), node_route(handler, false))
            .route(
                &format!("/walletsolidity/{name}"),
                node_route(handler, true),
            );
    }
    r
}

pub(super) fn sim_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/sim/deposits",
            post(start_deposits).get(deposits).delete(stop_deposits),
        )
        .route("/sim/stats", get(stats))
        .route("/sim/prune", post(prune))
        .route("/sim/fork", post(fork))
}

/// POST with a JSON body, or GET with the same fields as query parameters.
fn node_route(handler: Handler, solid: bool) -> MethodRouter<Arc<Shared>> {
    let h = move |State(s): Shr, Query(q): Query<HashMap<String, String>>, text: String| async move {
        let request = if text.trim().is_empty() {
            Ok(Value::Object(
                q.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
            ))
        } else {
            body(&text)
        };
        match request {
            Ok(v) => Json(handler(&s, &v, solid)),
            Err(e) => e,
        }
    };
    post(h).get(h)
}

/// A block copied out of the chain for rendering.
struct Snap {
    number: u64,
    id: [u8; 32],
    parent: [u8; 32],
    timestamp_ms: i64,
    txs: Vec<(Arc<SignedTransaction>, Executed)>,
}

fn snap(chain: &Chain, b: &Block) -> Snap {
    Snap {
        number: b.number,
        id: b.id,
        parent: b.parent,
        timestamp_ms: b.timestamp_ms,
        txs: b
            .txids
            .iter()
            .filter_map(|id| {
                let known = chain.txs.get(id)?;
                Some((known.tx.clone(), known.executed.clone()?))
            })
            .collect(),
    }
}

/// The newest block number of the view.
fn top(chain: &Chain, solid: bool) -> u64 {
    if solid {
        chain.solid_number()
    } else {
        chain.head().number
    }
}

/// Block `n` if the view has it.
fn in_view(chain: &Chain, n: i64, solid: bool) -> Option<&Block> {
    let n = u64::try_from(n).ok()?;
    if n > top(chain, solid) {
        return None;
    }
    chain.block(n)
}

/// The block as `Util.printBlockToJSON` renders it; `transactions` only
/// when asked for and not empty.
fn block_json(b: &Snap, vis: bool, with_txs: bool) -> Value {
    let mut raw = Map::new();
    put(&mut raw, "number", b.number);
    put(&mut raw, "txTrieRoot", hex::encode([0u8; 32]));
    raw.insert(
        "witness_address".into(),
        show(&Address::from_evm(WITNESS), vis),
    );
    put(&mut raw, "parentHash", hex::encode(b.parent));
    put(&mut raw, "version", 32);
    put(&mut raw, "timestamp", b.timestamp_ms);
    let mut block = Map::new();
    block.insert("blockID".into(), hex::encode(b.id).into());
    // The simulator does not sign its blocks: no `witness_signature`.
    block.insert("block_header".into(), json!({ "raw_data": raw }));
    if with_txs {
        let txs: Vec<Value> = b
            .txs
            .iter()
            .map(|(tx, ex)| transaction_json(tx, Some(ex), vis))
            .collect();
        put(&mut block, "transactions", txs);
    }
    Value::Object(block)
}

/// One block, or `{}` when the view does not have it.
fn one(s: &Shared, v: &Value, pick: impl FnOnce(&Chain) -> Option<&Block>) -> Value {
    let found = {
        let chain = lock(s);
        pick(&chain).map(|b| snap(&chain, b))
    };
    found.map_or_else(|| json!({}), |b| block_json(&b, visible(v), true))
}

/// A `BlockList`: `{"block": [...]}`, oldest first.
fn list(s: &Shared, v: &Value, pick: impl FnOnce(&Chain) -> Vec<&Block>) -> Value {
    let snaps: Vec<Snap> = {
        let chain = lock(s);
        pick(&chain).into_iter().map(|b| snap(&chain, b)).collect()
    };
    let vis = visible(v);
    json!({ "block": snaps.iter().map(|b| block_json(b, vis, true)).collect::<Vec<_>>() })
}

/// An integer field, given as a JSON number or (from a query) a string;
/// absent is 0, as in protobuf.
fn num_field(v: &Value, key: &str) -> Result<i64, Value> {
    match &v[key] {
        Value::Null => Some(0),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| node_error(format!("{key} must be an integer")).0)
}

fn by_num(s: &Shared, v: &Value, solid: bool) -> Value {
    match num_field(v, "num") {
        Ok(n) => one(s, v, |c| in_view(c, n, solid)),
        Err(e) => e,
    }
}

fn now_block(s: &Shared, v: &Value, solid: bool) -> Value {
    one(s, v, |c| {
        Some(if solid { c.solid_head() } else { c.head() })
    })
}

/// A 32-byte blockID in hex.
fn block_id(text: &str) -> Option<[u8; 32]> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(text, &mut id).ok().map(|_| id)
}

fn by_id(s: &Shared, v: &Value, solid: bool) -> Value {
    let Some(id) = v["value"].as_str().and_then(block_id) else {
        return node_error("value must be a 64-hex-digit blockID").0;
    };
    one(s, v, |c| {
        c.block_by_id(&id).filter(|b| b.number <= top(c, solid))
    })
}

/// The newest `num` blocks, 0 < num < 100; `{}` for any other `num`.
fn latest(s: &Shared, v: &Value, solid: bool) -> Value {
    let n = match num_field(v, "num") {
        Ok(n) => n,
        Err(e) => return e,
    };
    if !(1..BLOCK_LIMIT as i64).contains(&n) {
        return json!({});
    }
    list(s, v, |c| {
        let end = top(c, solid);
        (end.saturating_sub(n as u64 - 1)..=end)
            .filter_map(|n| c.block(n))
            .collect()
    })
}

/// `endNum - startNum` blocks from `startNum` (endNum exclusive, at most
/// 100). Like the node's store, it returns the next blocks it has from
/// `startNum` on, so a pruned start gives later blocks.
fn limit_next(s: &Shared, v: &Value, solid: bool) -> Value {
    let (start, end) = match (num_field(v, "startNum"), num_field(v, "endNum")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if end <= 0 || end <= start || end - start > BLOCK_LIMIT as i64 {
        return json!({});
    }
    let limit = (end - start) as usize;
    list(s, v, |c| {
        let first = c.blocks.front().map_or(0, |b| b.number);
        let from = u64::try_from(start).unwrap_or(0).max(first);
        let to = top(c, solid);
        (from..=to).take(limit).filter_map(|n| c.block(n)).collect()
    })
}

/// `getblock`: `id_or_num` (a number, a blockID, or nothing for the head)
/// and `detail` (without it, a block that has transactions comes without
/// them). Errors are the node's, without an exception class.
fn get_block(s: &Shared, v: &Value, solid: bool) -> Value {
    let detail = match &v["detail"] {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let id_or_num = match &v["id_or_num"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let found = {
        let chain = lock(s);
        let head = top(&chain, solid);
        let block = if id_or_num.is_empty() {
            chain.block(head)
        } else if let Ok(n) = id_or_num.parse::<i64>() {
            if n < 0 {
                return json!({"Error": "num must be non-positive number."});
            }
            in_view(&chain, n, solid)
        } else {
            let bad = json!({"Error": "id must be legal block hash."});
            let Some(id) = (id_or_num.len() == 64)
                .then(|| block_id(&id_or_num))
                .flatten()
            else {
                return bad;
            };
            if u64::from_be_bytes(id[..8].try_into().expect("8 bytes")) > head {
                return bad;
            }
            chain.block_by_id(&id)
        };
        block.map(|b| snap(&chain, b))
    };
    found.map_or_else(|| json!({}), |b| block_json(&b, visible(v), detail))
}

/// The receipts of a block's transactions, a JSON array (`[]` for a block
/// the view does not have); `{}` for `num` 0 or below, as the node answers.
fn infos_by_num(s: &Shared, v: &Value, solid: bool) -> Value {
    let n = match num_field(v, "num") {
        Ok(n) => n,
        Err(e) => return e,
    };
    if n <= 0 {
        return json!({});
    }
    let found: Option<Snap> = {
        let chain = lock(s);
        in_view(&chain, n, solid).map(|b| snap(&chain, b))
    };
    let vis = visible(v);
    Value::Array(
        found
            .map(|b| {
                b.txs
                    .iter()
                    .map(|(tx, ex)| info_json(tx, ex, vis))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

// ---- /sim -------------------------------------------------------------------

/// `POST /sim/deposits`: starts (or replaces) the load generator.
async fn start_deposits(State(s): Shr, text: String) -> Response {
    let plan: Plan = match serde_json::from_str(&text) {
        Ok(p) => p,
        Err(e) => {
            return sim_bad(format!(
                "expected {{\"trx\",\"usdt\",\"strangers\" (per block),\"targets\",\"trx_sun\",\"usdt_units\",\"blocks\"}}: {e}"
            ));
        }
    };
    let usdt = lock(&s).config.usdt_contract;
    // A targets file may hold a million lines: read it off the async threads.
    let made = tokio::task::spawn_blocking(move || LoadGen::new(plan, usdt)).await;
    let generator = match made {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return sim_bad(e),
        Err(e) => return sim_bad(format!("loading the targets failed: {e}")),
    };
    if let Err(e) = generator.fund_senders(&mut lock(&s), now_ms()) {
        return sim_bad(e);
    }
    let status = generator.status();
    *s.loadgen.lock().expect("loadgen lock") = Some(generator);
    Json(json!({ "generator": status })).into_response()
}

async fn stop_deposits(State(s): Shr) -> Json<Value> {
    let was = s.loadgen.lock().expect("loadgen lock").take();
    Json(json!({ "generator": was.map(|g| g.status()) }))
}

/// `GET /sim/deposits?from=N&to=M`: the generator, and the deposits to
/// targets now on the chain in blocks `from..to` (default: every block
/// kept), oldest first: the ground truth a follower must find.
async fn deposits(State(s): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    let bound = |k: &str| q.get(k).map(|v| v.parse::<u64>());
    let (from, to) = match (bound("from"), bound("to")) {
        (Some(Err(_)), _) | (_, Some(Err(_))) => {
            return sim_bad("from and to must be block numbers");
        }
        (f, t) => (
            f.map_or(0, |r| r.unwrap_or(0)),
            t.map_or(u64::MAX, |r| r.unwrap_or(u64::MAX)),
        ),
    };
    let status = s
        .loadgen
        .lock()
        .expect("loadgen lock")
        .as_ref()
        .map(LoadGen::status);
    let chain = lock(&s);
    let list: Vec<Value> = chain
        .blocks
        .iter()
        .filter(|b| (from..to).contains(&b.number))
        .flat_map(|b| &b.txids)
        .filter_map(|id| {
            let known = chain.txs.get(id)?;
            let ex = known.executed.as_ref()?;
            (known.origin == Origin::Deposit).then(|| {
                json!({
                    "txid": id, "block": ex.block, "asset": ex.asset, "from": ex.from,
                    "to": ex.to, "amount": ex.amount, "result": ex.outcome,
                })
            })
        })
        .collect();
    Json(json!({
        "generator": status,
        "head_block": chain.head().number,
        "solid_block": chain.solid_number(),
        "deposits": list,
    }))
    .into_response()
}

/// `GET /sim/stats`: requests served per node route since start, and the
/// chain's extent.
async fn stats(State(s): Shr) -> Json<Value> {
    let requests = s.stats.lock().expect("stats lock").clone();
    let chain = lock(&s);
    Json(json!({
        "since_ms": s.started_ms,
        "at_ms": now_ms(),
        "total": requests.values().sum::<u64>(),
        "requests": requests,
        "head_block": chain.head().number,
        "solid_block": chain.solid_number(),
        "first_block": chain.blocks.front().map(|b| b.number),
        "transactions": chain.applied.len(),
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PruneRequest {
    below: u64,
}

/// `POST /sim/prune {"below": N}`: drops blocks below N, as a node with
/// pruned history lacks them.
async fn prune(State(s): Shr, text: String) -> Response {
    let req: PruneRequest = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return sim_bad(format!("expected {{\"below\": BLOCK_NUMBER}}: {e}")),
    };
    match lock(&s).prune_below(req.below) {
        Ok(p) => Json(p).into_response(),
        Err(e) => sim_bad(e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ForkRequest {
    depth: u64,
    #[serde(default)]
    vanish: f64,
}

/// `POST /sim/fork {"depth": N, "vanish": 0.0}`: one reorganisation now.
async fn fork(State(s): Shr, text: String) -> Response {
    let req: ForkRequest = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return sim_bad(format!("expected {{\"depth\": N, \"vanish\": 0..1}}: {e}")),
    };
    match lock(&s).fork(req.depth, req.vanish) {
        Ok(f) => Json(f).into_response(),
        Err(e) => sim_bad(e),
    }
}
