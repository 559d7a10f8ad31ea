//! The simulator's HTTP routes: the node's (`/wallet`, `/walletsolidity`,
//! `/v1`) in the real JSON shapes, and its own controls under `/sim/`.
//!
//! Like java-tron, node routes answer errors with HTTP 200 and an error
//! body, leave zero-valued fields out, answer `{}` for unknown accounts and
//! transactions, and write addresses in hex unless the request says
//! `"visible": true`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, body::Body, body::Bytes};
use serde_json::{Map, Value, json};

use super::chain::{Chain, Executed, Outcome, res};
use super::trc20;
use super::{Faults, Shared, blocks, now_ms, roll};
use crate::tron::Sun;
use crate::tron::address::Address;
use crate::tron::tx::{
    Contract, Permission, PermissionType, RawTransaction, Resource, SignedTransaction, TxId,
};

pub(super) type Shr = State<Arc<Shared>>;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let node = Router::new()
        .route("/wallet/getaccount", post(get_account))
        .route("/wallet/getaccountresource", post(get_account_resource))
        .route("/wallet/triggerconstantcontract", post(trigger_constant))
        .route("/wallet/getdelegatedresourcev2", post(delegated_resource))
        .route(
            "/wallet/getdelegatedresourceaccountindexv2",
            post(delegated_index),
        )
        .route("/wallet/getcandelegatedmaxsize", post(can_delegate_max))
        .route(
            "/wallet/freezebalancev2",
            post(|s: Shr, b: String| async move { build(&s, &b, StakeKind::Freeze) }),
        )
        .route(
            "/wallet/unfreezebalancev2",
            post(|s: Shr, b: String| async move { build(&s, &b, StakeKind::Unfreeze) }),
        )
        .route(
            "/wallet/withdrawexpireunfreeze",
            post(|s: Shr, b: String| async move { build(&s, &b, StakeKind::Withdraw) }),
        )
        .route(
            "/wallet/delegateresource",
            post(|s: Shr, b: String| async move { build(&s, &b, StakeKind::Delegate) }),
        )
        .route(
            "/wallet/undelegateresource",
            post(|s: Shr, b: String| async move { build(&s, &b, StakeKind::Undelegate) }),
        )
        .route(
            "/wallet/getchainparameters",
            post(chain_parameters).get(chain_parameters),
        )
        .route("/wallet/broadcasthex", post(broadcast_hex))
        .route(
            "/wallet/gettransactionbyid",
            post(|s: Shr, b: String| async move { transaction_by_id(&s, &b, false) }),
        )
        .route(
            "/walletsolidity/gettransactionbyid",
            post(|s: Shr, b: String| async move { transaction_by_id(&s, &b, true) }),
        )
        .route(
            "/wallet/gettransactioninfobyid",
            post(|s: Shr, b: String| async move { transaction_info(&s, &b, false) }),
        )
        .route(
            "/walletsolidity/gettransactioninfobyid",
            post(|s: Shr, b: String| async move { transaction_info(&s, &b, true) }),
        )
        .route("/v1/accounts/{address}", get(v1_account))
        .route("/v1/accounts/{address}/transactions", get(v1_transactions))
        .route("/v1/accounts/{address}/transactions/trc20", get(v1_trc20))
        // Blocks (src/sim/blocks.rs): getblock, getblockbynum, getblockbyid,
        // getblockbylatestnum, getblockbylimitnext, getnowblock,
        // gettransactioninfobyblocknum and their /walletsolidity twins.
        .merge(blocks::node_routes());
    // The routes client libraries call to build and send (node_api.rs).
    let node = super::node_api::routes()
        .into_iter()
        .fold(node, |r, (path, method)| r.route(path, method))
        .route_layer(middleware::from_fn_with_state(shared.clone(), count))
        .fallback(super::node_api::unknown_route)
        .layer(middleware::from_fn(super::node_api::query_as_body))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            inject_faults,
        ));
    Router::new()
        .route("/sim/fund", post(fund))
        .route("/sim/ledger", get(ledger))
        .route("/sim/faults", post(set_faults).get(get_faults))
        .merge(blocks::sim_routes())
        .merge(node)
        .with_state(shared)
}

/// Counts the requests each node route serves (`GET /sim/stats`).
async fn count(State(s): Shr, path: MatchedPath, req: Request, next: Next) -> Response {
    *s.stats
        .lock()
        .expect("stats lock")
        .entry(path.as_str().to_string())
        .or_default() += 1;
    next.run(req).await
}

/// The API key check, then latency, 429s, busy answers, 500s and dropped
/// connections on the node routes. A drop
/// happens after the request was handled, so a dropped broadcast may well
/// have been accepted: exactly the ambiguity clients must survive.
async fn inject_faults(State(s): Shr, req: Request, next: Next) -> Response {
    if let Some(expected) = &s.api_key {
        let given = req.headers().get(crate::tron::client::API_KEY_HEADER);
        if given.and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"Error": "ApiKey not exists"})),
            )
                .into_response();
        }
    }
    let f = s.faults.lock().expect("faults lock").clone();
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if roll() < f.rate_429 {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"Error": "too many requests (tron-sim fault)"})),
        )
            .into_response();
        if let Some(secs) = f.retry_after_s {
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("digits"));
        }
        return r;
    }
    if roll() < f.rate_busy {
        return Json(json!({
            "Error": "class java.lang.IllegalAccessException : lack of computing resources"
        }))
        .into_response();
    }
    if roll() < f.rate_500 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "tron-sim fault").into_response();
    }
    let drop = roll() < f.rate_drop;
    let response = next.run(req).await;
    if drop {
        let broken = futures_util::stream::once(std::future::ready(Err::<Bytes, _>(
            std::io::Error::other("tron-sim fault: connection dropped"),
        )));
        return Response::new(Body::from_stream(broken));
    }
    response
}

// ---- request helpers --------------------------------------------------------

pub(super) type Answer = Json<Value>;

pub(super) fn node_error(message: impl std::fmt::Display) -> Answer {
    Json(json!({ "Error": format!("class java.lang.IllegalArgumentException : {message}") }))
}

/// The JSON body; an empty body is `{}`, as the node treats it.
pub(super) fn body(text: &str) -> Result<Value, Answer> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(text).map_err(|e| node_error(format!("invalid JSON: {e}")))
}

pub(super) fn visible(v: &Value) -> bool {
    match &v["visible"] {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(super) fn address_field(v: &Value, key: &str) -> Result<Address, Answer> {
    v[key]
        .as_str()
        .ok_or_else(|| node_error(format!("{key} isn't set.")))?
        .parse()
        .map_err(|e| node_error(format!("Invalid {key}: {e}")))
}

pub(super) fn show(a: &Address, visible: bool) -> Value {
    Value::String(if visible { a.to_base58() } else { a.to_hex() })
}

/// Inserts `value` unless it is zero or empty: proto3 JSON omits defaults.
pub(super) fn put(m: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    let v = value.into();
    let default = match &v {
        Value::Number(n) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if !default {
        m.insert(key.to_string(), v);
    }
}

pub(super) fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Chain> {
    s.chain.lock().expect("chain lock")
}

// ---- /wallet ----------------------------------------------------------------

async fn get_account(State(s): Shr, text: String) -> Answer {
    account(&s, &text, false)
}

/// `getaccount`, from the solidified state when `solid`.
pub(super) fn account(s: &Shared, text: &str, solid: bool) -> Answer {
    let v = match body(text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let addr = match address_field(&v, "address") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let vis = visible(&v);
    let chain = lock(s);
    let state = if solid {
        chain.solid_state()
    } else {
        &chain.state
    };
    let Some(acct) = state.accounts.get(&addr) else {
        return Json(json!({}));
    };
    let mut m = Map::new();
    m.insert("address".into(), show(&addr, vis));
    put(&mut m, "balance", acct.trx);
    put(&mut m, "create_time", acct.create_time_ms);
    let (now, window) = (chain.head().timestamp_ms, chain.config.resource_window_ms());
    put(&mut m, "free_net_usage", acct.free_net.at(now, window));
    let (bw, en) = (res(Resource::Bandwidth), res(Resource::Energy));
    let mut frozen = Vec::new();
    for r in [Resource::Bandwidth, Resource::Energy] {
        let mut f = Map::new();
        if r == Resource::Energy {
            f.insert("type".into(), "ENERGY".into());
        }
        put(&mut f, "amount", acct.frozen[res(r)]);
        frozen.push(Value::Object(f));
    }
    m.insert("frozenV2".into(), Value::Array(frozen));
    let unfrozen: Vec<Value> = acct
        .unfreezing
        .iter()
        .map(|(r, amount, expire)| {
            let mut u = Map::new();
            if *r == Resource::Energy {
                u.insert("type".into(), "ENERGY".into());
            }
            put(&mut u, "unfreeze_amount", *amount);
            put(&mut u, "unfreeze_expire_time", *expire);
            Value::Object(u)
        })
        .collect();
    put(&mut m, "unfrozenV2", unfrozen);
    put(
        &mut m,
        "delegated_frozenV2_balance_for_bandwidth",
        acct.delegated_out[bw],
    );
    put(
        &mut m,
        "acquired_delegated_frozenV2_balance_for_bandwidth",
        acct.acquired[bw],
    );
    let mut resource = Map::new();
    put(&mut resource, "energy_usage", acct.usage[en].used);
    put(
        &mut resource,
        "latest_consume_time_for_energy",
        acct.usage[en].at_ms,
    );
    put(
        &mut resource,
        "delegated_frozenV2_balance_for_energy",
        acct.delegated_out[en],
    );
    put(
        &mut resource,
        "acquired_delegated_frozenV2_balance_for_energy",
        acct.acquired[en],
    );
    put(&mut m, "net_usage", acct.usage[bw].used);
    put(&mut m, "latest_consume_time", acct.usage[bw].at_ms);
    m.insert("account_resource".into(), Value::Object(resource));
    let perms = chain.permissions_of(&addr);
    m.insert(
        "owner_permission".into(),
        permission_json(&perms.owner, vis),
    );
    if let Some(w) = &perms.witness {
        m.insert("witness_permission".into(), permission_json(w, vis));
    }
    m.insert(
        "active_permission".into(),
        perms
            .actives
            .iter()
            .map(|p| permission_json(p, vis))
            .collect(),
    );
    Json(Value::Object(m))
}

/// A `Permission` as the node renders it (defaults left out: the owner
/// permission shows no type and no id).
pub(super) fn permission_json(p: &Permission, vis: bool) -> Value {
    let mut m = Map::new();
    if p.kind != PermissionType::Owner {
        m.insert("type".into(), p.kind.as_str().into());
    }
    put(&mut m, "id", p.id);
    put(&mut m, "permission_name", p.name.clone());
    put(&mut m, "threshold", p.threshold);
    put(&mut m, "parent_id", p.parent_id);
    put(&mut m, "operations", hex::encode(&p.operations));
    let keys: Vec<Value> = p
        .keys
        .iter()
        .map(|k| json!({"address": show(&k.address, vis), "weight": k.weight}))
        .collect();
    put(&mut m, "keys", keys);
    Value::Object(m)
}

async fn get_account_resource(State(s): Shr, text: String) -> Answer {
    resources(&s, &text, true)
}

/// `getaccountresource`, or without `energy` its bandwidth part, which is
/// `getaccountnet`.
pub(super) fn resources(s: &Shared, text: &str, energy: bool) -> Answer {
    let v = match body(text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let addr = match address_field(&v, "address") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let chain = lock(s);
    if !chain.state.accounts.contains_key(&addr) {
        return Json(json!({}));
    }
    let (c, st, now) = (&chain.config, &chain.state, chain.head().timestamp_ms);
    let mut m = Map::new();
    put(&mut m, "freeNetUsed", chain.free_net_used(&addr));
    put(&mut m, "freeNetLimit", c.free_net_limit);
    put(
        &mut m,
        "NetUsed",
        st.used(c, &addr, Resource::Bandwidth, now),
    );
    put(&mut m, "NetLimit", st.limit(c, &addr, Resource::Bandwidth));
    put(&mut m, "TotalNetLimit", c.total_net_limit);
    put(
        &mut m,
        "TotalNetWeight",
        st.total_weight(c, Resource::Bandwidth),
    );
    if !energy {
        return Json(Value::Object(m));
    }
    put(
        &mut m,
        "EnergyUsed",
        st.used(c, &addr, Resource::Energy, now),
    );
    put(&mut m, "EnergyLimit", st.limit(c, &addr, Resource::Energy));
    put(&mut m, "TotalEnergyLimit", c.total_energy_limit);
    put(
        &mut m,
        "TotalEnergyWeight",
        st.total_weight(c, Resource::Energy),
    );
    Json(Value::Object(m))
}

/// The delegations from `fromAddress` to `toAddress`: one entry for the
/// unlocked part and one for the locked part, as the node keeps them.
async fn delegated_resource(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (from, to) = match (
        address_field(&v, "fromAddress"),
        address_field(&v, "toAddress"),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let vis = visible(&v);
    let chain = lock(&s);
    let Some(d) = chain.state.delegations.get(&(from, to)) else {
        return Json(json!({}));
    };
    let (bw, en) = (res(Resource::Bandwidth), res(Resource::Energy));
    let mut list = Vec::new();
    for (balances, expires) in [(d.balance, [0, 0]), (d.locked, d.lock_expire_ms)] {
        if balances == [0, 0] {
            continue;
        }
        let mut m = Map::new();
        m.insert("from".into(), show(&from, vis));
        m.insert("to".into(), show(&to, vis));
        put(&mut m, "frozen_balance_for_bandwidth", balances[bw]);
        put(&mut m, "frozen_balance_for_energy", balances[en]);
        put(&mut m, "expire_time_for_bandwidth", expires[bw]);
        put(&mut m, "expire_time_for_energy", expires[en]);
        list.push(Value::Object(m));
    }
    Json(json!({ "delegatedResource": list }))
}

/// Who `value` delegates to (`toAccounts`) and receives from (`fromAccounts`).
async fn delegated_index(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let addr = match address_field(&v, "value") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let vis = visible(&v);
    let chain = lock(&s);
    let keys = chain.state.delegations.keys();
    let to: Vec<Value> = keys
        .clone()
        .filter(|(f, _)| *f == addr)
        .map(|(_, t)| show(t, vis))
        .collect();
    let from: Vec<Value> = keys
        .filter(|(_, t)| *t == addr)
        .map(|(f, _)| show(f, vis))
        .collect();
    if to.is_empty() && from.is_empty() {
        return Json(json!({}));
    }
    let mut m = Map::new();
    m.insert("account".into(), show(&addr, vis));
    put(&mut m, "fromAccounts", from);
    put(&mut m, "toAccounts", to);
    Json(Value::Object(m))
}

/// The Stake 2.0 contracts the node builds unsigned transactions for.
#[derive(Clone, Copy)]
enum StakeKind {
    Freeze,
    Unfreeze,
    Withdraw,
    Delegate,
    Undelegate,
}

fn resource_field(v: &Value) -> Result<Resource, Answer> {
    match &v["resource"] {
        Value::Null => Ok(Resource::Bandwidth),
        Value::String(r) => r
            .parse()
            .map_err(|_| node_error(format!("resource {r} is not BANDWIDTH or ENERGY"))),
        other => Err(node_error(format!(
            "resource {other} is not BANDWIDTH or ENERGY"
        ))),
    }
}

pub(super) fn sun_field(v: &Value, key: &str) -> Result<Sun, Answer> {
    match &v[key] {
        Value::Null => Ok(Sun::ZERO),
        Value::Number(n) => n
            .as_u64()
            .map(Sun)
            .ok_or_else(|| node_error(format!("{key} must be a non-negative integer"))),
        other => Err(node_error(format!("{key} must be a number, got {other}"))),
    }
}

fn stake_contract(v: &Value, kind: StakeKind) -> Result<Contract, Answer> {
    let owner = address_field(v, "owner_address")?;
    let resource = resource_field(v)?;
    Ok(match kind {
        StakeKind::Withdraw => Contract::WithdrawExpireUnfreeze { owner },
        StakeKind::Freeze => Contract::FreezeBalanceV2 {
            owner,
            frozen_balance: sun_field(v, "frozen_balance")?,
            resource,
        },
        StakeKind::Unfreeze => Contract::UnfreezeBalanceV2 {
            owner,
            unfreeze_balance: sun_field(v, "unfreeze_balance")?,
            resource,
        },
        StakeKind::Delegate => Contract::DelegateResource {
            owner,
            resource,
            balance: sun_field(v, "balance")?,
            receiver: address_field(v, "receiver_address")?,
            lock: v["lock"].as_bool().unwrap_or(false),
            lock_period: sun_field(v, "lock_period")?.0,
        },
        StakeKind::Undelegate => Contract::UnDelegateResource {
            owner,
            resource,
            balance: sun_field(v, "balance")?,
            receiver: address_field(v, "receiver_address")?,
        },
    })
}

/// `/wallet/freezebalancev2` and its kin: an unsigned transaction, or the
/// node's validation error, as its builder routes answer.
fn build(s: &Shared, text: &str, kind: StakeKind) -> Answer {
    let (v, contract) = match body(text).and_then(|v| stake_contract(&v, kind).map(|c| (v, c))) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let vis = visible(&v);
    let chain = lock(s);
    match chain.build(contract, now_ms()) {
        Ok(raw) => Json(json!({
            "visible": vis,
            "txID": raw.txid().to_hex(),
            "raw_data": raw_json(&raw, vis),
            "raw_data_hex": hex::encode(raw.encode()),
        })),
        Err(r) => Json(json!({
            "Error": format!("class org.tron.core.exception.ContractValidateException : {}", r.message)
        })),
    }
}

/// `type` is the resource code: 0 BANDWIDTH (the default), 1 ENERGY.
async fn can_delegate_max(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let owner = match address_field(&v, "owner_address") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let resource = match &v["type"] {
        Value::Null => Resource::Bandwidth,
        Value::Number(n) => match n.as_u64().map(Resource::from_code) {
            Some(Ok(r)) => r,
            _ => return node_error(format!("type {n} is not a resource code (0 or 1)")),
        },
        Value::String(t) => match t.parse() {
            Ok(r) => r,
            Err(_) => return node_error(format!("type {t} is not BANDWIDTH or ENERGY")),
        },
        other => return node_error(format!("type {other} is not a resource code")),
    };
    let chain = lock(&s);
    let now = chain.head().timestamp_ms;
    let mut m = Map::new();
    put(
        &mut m,
        "max_size",
        chain
            .state
            .can_delegate(&chain.config, &owner, resource, now),
    );
    Json(Value::Object(m))
}

pub(super) async fn trigger_constant(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (owner, contract) = match (
        address_field(&v, "owner_address"),
        address_field(&v, "contract_address"),
    ) {
        (Ok(o), Ok(c)) => (o, c),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let data = match constant_call_data(&v) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let vis = visible(&v);
    // `Return.message` is bytes: text when visible, else hex.
    let text = |m: &str| if vis { m.to_string() } else { hex::encode(m) };
    let chain = lock(&s);
    let Some(call) = trc20::call(&chain.config, &chain.state, &contract, &owner, &data) else {
        return Json(json!({"result": {
            "code": "CONTRACT_VALIDATE_ERROR",
            "message": text("No contract or not a valid smart contract")
        }}));
    };
    let mut result = Map::new();
    result.insert("result".into(), true.into());
    let mut ret = Map::new();
    if call.reverted {
        result.insert("message".into(), text("REVERT opcode executed").into());
        ret.insert("ret".into(), "FAILED".into());
    }
    // The dynamic energy model reports a transfer's cost as base usage
    // plus a penalty (mainnet factor about 4.4).
    let (used, penalty) = if call.energy > trc20::REVERT_ENERGY {
        let used = call.energy * 10 / 44;
        (used, call.energy - used)
    } else {
        (call.energy, 0)
    };
    let mut m = Map::new();
    m.insert("result".into(), Value::Object(result));
    put(&mut m, "energy_used", used);
    put(&mut m, "energy_penalty", penalty);
    m.insert("constant_result".into(), json!([hex::encode(&call.output)]));
    if !call.logs.is_empty() {
        m.insert("logs".into(), logs_json(&call.logs, vis));
    }
    m.insert("transaction".into(), json!({"ret": [ret]}));
    Json(Value::Object(m))
}

/// The calldata of a constant call: `function_selector` (hashed to its
/// selector) followed by `parameter`, or else the whole `data`.
fn constant_call_data(v: &Value) -> Result<Vec<u8>, Answer> {
    let hex_field = |key: &str| {
        hex::decode(v[key].as_str().unwrap_or_default())
            .map_err(|e| node_error(format!("{key} is not hex: {e}")))
    };
    match v["function_selector"].as_str() {
        Some(sig) if !sig.is_empty() => {
            let mut data = trc20::selector(sig).to_vec();
            data.extend(hex_field("parameter")?);
            Ok(data)
        }
        _ => hex_field("data"),
    }
}

/// Receipt logs: the contract's 20-byte address (hex, or base58 when
/// visible), topics and data in hex.
fn logs_json(logs: &[trc20::Log], vis: bool) -> Value {
    logs.iter()
        .map(|l| {
            let address = if vis {
                l.address.to_base58()
            } else {
                hex::encode(l.address.evm_bytes())
            };
            json!({
                "address": address,
                "topics": l.topics.iter().map(hex::encode).collect::<Vec<_>>(),
                "data": hex::encode(&l.data),
            })
        })
        .collect()
}

async fn chain_parameters(State(s): Shr) -> Answer {
    let chain = lock(&s);
    let c = &chain.config;
    let params: Vec<Value> = [
        ("getMaintenanceTimeInterval", 21_600_000u64),
        ("getCreateAccountFee", c.create_account_fee),
        ("getTransactionFee", c.transaction_fee),
        ("getAssetIssueFee", 1_024_000_000),
        ("getWitnessPayPerBlock", 8_000_000),
        (
            "getCreateNewAccountFeeInSystemContract",
            c.create_new_account_fee_in_system_contract,
        ),
        ("getCreateNewAccountBandwidthRate", 1),
        ("getEnergyFee", c.energy_fee),
        ("getFreeNetLimit", c.free_net_limit),
        ("getTotalEnergyLimit", 180_000_000_000),
        ("getAllowTvmTransferTrc10", 1),
        ("getAllowMultiSign", 1),
        ("getAllowDynamicEnergy", 1),
        ("getMaxFeeLimit", 15_000_000_000),
        (
            "getUpdateAccountPermissionFee",
            c.update_account_permission_fee,
        ),
        ("getMultiSignFee", c.multi_sign_fee),
        ("getTotalSignNum", super::permissions::TOTAL_SIGN_NUM as u64),
    ]
    .into_iter()
    .map(|(k, v)| {
        let mut m = Map::new();
        m.insert("key".into(), k.into());
        put(&mut m, "value", v);
        Value::Object(m)
    })
    .collect();
    Json(json!({ "chainParameter": params }))
}

async fn broadcast_hex(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let bytes = match hex::decode(v["transaction"].as_str().unwrap_or_default()) {
        Ok(b) if !b.is_empty() => b,
        _ => {
            return Json(json!({
                "result": false,
                "code": "OTHER_ERROR",
                "message": hex::encode("transaction is not hex")
            }));
        }
    };
    let never_mine = roll() < s.faults.lock().expect("faults lock").rate_never_mined;
    let mut chain = lock(&s);
    let decoded = SignedTransaction::decode(&bytes).ok();
    let txid = decoded
        .as_ref()
        .map(|t| t.txid().to_hex())
        .unwrap_or_default();
    let tx_json = decoded
        .as_ref()
        .map(|t| transaction_json(t, None, false).to_string())
        .unwrap_or_default();
    match chain.broadcast(&bytes, never_mine) {
        Ok(_) => Json(json!({
            "result": true, "code": "SUCCESS", "txid": txid, "transaction": tx_json
        })),
        Err(r) => Json(json!({
            "result": false,
            "code": r.code,
            "message": hex::encode(r.message),
            "txid": txid,
            "transaction": tx_json
        })),
    }
}

pub(super) fn txid_field(v: &Value) -> Result<TxId, Answer> {
    v["value"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|_| node_error("value must be a 64-hex-digit transaction id"))
}

fn transaction_by_id(s: &Shared, text: &str, solid: bool) -> Answer {
    let (v, txid) = match body(text).and_then(|v| txid_field(&v).map(|t| (v, t))) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let chain = lock(s);
    match chain.mined(&txid, solid) {
        Some((tx, ex)) => Json(transaction_json(tx, Some(ex), visible(&v))),
        None => Json(json!({})),
    }
}

fn transaction_info(s: &Shared, text: &str, solid: bool) -> Answer {
    let (v, txid) = match body(text).and_then(|v| txid_field(&v).map(|t| (v, t))) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let chain = lock(s);
    match chain.mined(&txid, solid) {
        Some((tx, ex)) => Json(info_json(tx, ex, visible(&v))),
        None => Json(json!({})),
    }
}

/// `raw_data` as the node renders it.
pub(super) fn raw_json(raw: &RawTransaction, vis: bool) -> Value {
    let mut value = Map::new();
    match &raw.contract {
        Contract::Transfer { owner, to, amount } => {
            put(&mut value, "amount", amount.0);
            value.insert("owner_address".into(), show(owner, vis));
            value.insert("to_address".into(), show(to, vis));
        }
        Contract::TransferAsset {
            asset_name,
            owner,
            to,
            amount,
        } => {
            put(&mut value, "amount", *amount);
            let name = if vis {
                String::from_utf8_lossy(asset_name).into_owned()
            } else {
                hex::encode(asset_name)
            };
            put(&mut value, "asset_name", name);
            value.insert("owner_address".into(), show(owner, vis));
            value.insert("to_address".into(), show(to, vis));
        }
        Contract::TriggerSmartContract {
            owner,
            contract,
            call_value,
            data,
        } => {
            put(&mut value, "data", hex::encode(data));
            value.insert("owner_address".into(), show(owner, vis));
            value.insert("contract_address".into(), show(contract, vis));
            put(&mut value, "call_value", call_value.0);
        }
        Contract::FreezeBalanceV2 {
            owner,
            frozen_balance,
            resource,
        } => {
            value.insert("owner_address".into(), show(owner, vis));
            put(&mut value, "frozen_balance", frozen_balance.0);
            put_resource(&mut value, *resource);
        }
        Contract::UnfreezeBalanceV2 {
            owner,
            unfreeze_balance,
            resource,
        } => {
            value.insert("owner_address".into(), show(owner, vis));
            put(&mut value, "unfreeze_balance", unfreeze_balance.0);
            put_resource(&mut value, *resource);
        }
        Contract::WithdrawExpireUnfreeze { owner } => {
            value.insert("owner_address".into(), show(owner, vis));
        }
        Contract::DelegateResource {
            owner,
            resource,
            balance,
            receiver,
            lock,
            lock_period,
        } => {
            value.insert("owner_address".into(), show(owner, vis));
            value.insert("receiver_address".into(), show(receiver, vis));
            put(&mut value, "balance", balance.0);
            put_resource(&mut value, *resource);
            put(&mut value, "lock", *lock);
            put(&mut value, "lock_period", *lock_period);
        }
        Contract::UnDelegateResource {
            owner,
            resource,
            balance,
            receiver,
        } => {
            value.insert("owner_address".into(), show(owner, vis));
            value.insert("receiver_address".into(), show(receiver, vis));
            put(&mut value, "balance", balance.0);
            put_resource(&mut value, *resource);
        }
        Contract::AccountPermissionUpdate {
            owner,
            owner_permission,
            witness,
            actives,
        } => {
            value.insert("owner_address".into(), show(owner, vis));
            value.insert("owner".into(), permission_json(owner_permission, vis));
            if let Some(w) = witness {
                value.insert("witness".into(), permission_json(w, vis));
            }
            value.insert(
                "actives".into(),
                actives.iter().map(|p| permission_json(p, vis)).collect(),
            );
        }
    }
    let name = raw.contract.type_name();
    let mut contract = json!({
        "parameter": {"value": value, "type_url": format!("type.googleapis.com/protocol.{name}")},
        "type": name
    });
    if raw.permission_id != 0 {
        contract["Permission_id"] = raw.permission_id.into();
    }
    let mut m = Map::new();
    m.insert("contract".into(), json!([contract]));
    put(&mut m, "ref_block_bytes", hex::encode(raw.ref_block_bytes));
    put(&mut m, "ref_block_hash", hex::encode(raw.ref_block_hash));
    put(&mut m, "expiration", raw.expiration_ms);
    put(&mut m, "fee_limit", raw.fee_limit.0);
    put(&mut m, "data", hex::encode(&raw.data));
    put(&mut m, "timestamp", raw.timestamp_ms);
    Value::Object(m)
}

/// BANDWIDTH is the enum's default, so the node leaves it out.
fn put_resource(m: &mut Map<String, Value>, r: Resource) {
    if r != Resource::Bandwidth {
        m.insert("resource".into(), r.as_str().into());
    }
}

pub(super) fn transaction_json(tx: &SignedTransaction, ex: Option<&Executed>, vis: bool) -> Value {
    let mut m = Map::new();
    if let Some(ex) = ex {
        m.insert("ret".into(), json!([{"contractRet": ex.outcome.as_str()}]));
    }
    m.insert(
        "signature".into(),
        tx.signatures().iter().map(hex::encode).collect(),
    );
    m.insert("txID".into(), tx.txid().to_hex().into());
    m.insert("raw_data".into(), raw_json(tx.raw(), vis));
    m.insert("raw_data_hex".into(), hex::encode(tx.raw_bytes()).into());
    Value::Object(m)
}

/// With `vis`, addresses (the log's too) are base58 and `resMessage` is
/// text, as java-tron renders them; else hex.
pub(super) fn info_json(tx: &SignedTransaction, ex: &Executed, vis: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), tx.txid().to_hex().into());
    put(&mut m, "fee", ex.fee);
    m.insert("blockNumber".into(), ex.block.into());
    m.insert("blockTimeStamp".into(), ex.block_timestamp_ms.into());
    let mut receipt = Map::new();
    put(&mut receipt, "energy_usage", ex.energy_usage);
    put(&mut receipt, "energy_usage_total", ex.energy_usage_total);
    put(&mut receipt, "energy_fee", ex.energy_fee);
    put(&mut receipt, "net_usage", ex.net_usage);
    put(&mut receipt, "net_fee", ex.net_fee);
    if let Some(contract) = ex.contract {
        receipt.insert("result".into(), ex.outcome.as_str().into());
        m.insert("contract_address".into(), show(&contract, vis));
        m.insert("contractResult".into(), json!([hex::encode(&ex.output)]));
        if !ex.logs.is_empty() {
            m.insert("log".into(), logs_json(&ex.logs, vis));
        }
        if ex.outcome != Outcome::Success {
            m.insert("result".into(), "FAILED".into());
            let why = match ex.outcome {
                Outcome::Revert => "REVERT opcode executed",
                _ => "Not enough energy for this transaction",
            };
            let why = if vis {
                why.to_string()
            } else {
                hex::encode(why)
            };
            m.insert("resMessage".into(), why.into());
        }
    } else {
        m.insert("contractResult".into(), json!([""]));
    }
    m.insert("receipt".into(), Value::Object(receipt));
    Value::Object(m)
}

// ---- /v1 --------------------------------------------------------------------

type V1 = (StatusCode, Json<Value>);

fn v1_bad(message: impl std::fmt::Display) -> V1 {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"success": false, "error": message.to_string(), "statusCode": 400})),
    )
}

fn v1_page(items: Vec<Value>, next: Option<String>) -> V1 {
    let mut meta = Map::new();
    meta.insert("at".into(), now_ms().into());
    meta.insert("page_size".into(), items.len().into());
    if let Some(f) = next {
        meta.insert("fingerprint".into(), f.into());
    }
    (
        StatusCode::OK,
        Json(json!({"data": items, "success": true, "meta": meta})),
    )
}

async fn v1_account(State(s): Shr, Path(address): Path<String>) -> V1 {
    let addr: Address = match address.parse() {
        Ok(a) => a,
        Err(e) => return v1_bad(format!("invalid address {address}: {e}")),
    };
    let chain = lock(&s);
    let Some(acct) = chain.state.accounts.get(&addr) else {
        return v1_page(Vec::new(), None);
    };
    let mut m = Map::new();
    m.insert("address".into(), addr.to_hex().into());
    put(&mut m, "balance", acct.trx);
    put(&mut m, "create_time", acct.create_time_ms);
    // Every token the account holds, USDT first, as TronGrid lists them.
    let held = std::iter::once((&chain.config.usdt_contract, &chain.state.usdt))
        .chain(&chain.state.tokens)
        .filter_map(|(token, balances)| {
            let units = balances.get(&addr).copied().filter(|u| *u > 0)?;
            Some(json!({ token.to_base58(): units.to_string() }))
        });
    m.insert("trc20".into(), held.collect());
    v1_page(vec![Value::Object(m)], None)
}

/// The filters both v1 lists share.
struct ListParams {
    only_confirmed: bool,
    only_to: bool,
    only_from: bool,
    limit: usize,
    offset: usize,
    min_ts: i64,
    max_ts: i64,
    ascending: bool,
}

impl ListParams {
    fn parse(q: &std::collections::HashMap<String, String>) -> Result<Self, V1> {
        let flag = |k: &str| q.get(k).is_some_and(|v| v == "true");
        let num = |k: &str, default: i64| -> Result<i64, V1> {
            q.get(k).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| v1_bad(format!("{k} must be a number")))
            })
        };
        let limit = num("limit", 20)?;
        if !(1..=200).contains(&limit) {
            return Err(v1_bad("limit must be between 1 and 200"));
        }
        // The fingerprint is opaque to clients; here it is the next offset.
        let offset = match q.get("fingerprint") {
            Some(f) => usize::from_str_radix(f, 16).map_err(|_| v1_bad("invalid fingerprint"))?,
            None => 0,
        };
        Ok(Self {
            only_confirmed: flag("only_confirmed"),
            only_to: flag("only_to"),
            only_from: flag("only_from"),
            limit: limit as usize,
            offset,
            min_ts: num("min_timestamp", 0)?,
            max_ts: num("max_timestamp", i64::MAX)?,
            ascending: q.get("order_by").is_some_and(|o| o.ends_with(",asc")),
        })
    }

    /// Whether an item that is `from` and/or `to` the account passes
    /// `only_from` / `only_to`.
    fn direction(&self, from: bool, to: bool) -> bool {
        match (self.only_from, self.only_to) {
            (true, true) => from && to,
            (true, false) => from,
            (false, true) => to,
            (false, false) => from || to,
        }
    }

    /// Filters `account`'s history by time and confirmation, orders, and
    /// cuts one page.
    fn page<'a>(
        &self,
        chain: &'a Chain,
        account: &Address,
        related: impl Fn(&Executed) -> bool,
    ) -> (Vec<(&'a SignedTransaction, &'a Executed)>, Option<String>) {
        let solid = chain.solid_number();
        let mut all: Vec<_> = chain
            .history(account)
            .filter_map(|id| chain.mined(id, false))
            .filter(|(_, ex)| related(ex))
            .filter(|(_, ex)| !self.only_confirmed || ex.block <= solid)
            .filter(|(_, ex)| (self.min_ts..=self.max_ts).contains(&ex.block_timestamp_ms))
            .collect();
        if !self.ascending {
            all.reverse();
        }
        let end = (self.offset + self.limit).min(all.len());
        let next = (end < all.len()).then(|| format!("{end:x}"));
        let page = all
            .get(self.offset..end)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        (page, next)
    }
}

/// The account and paging parameters of a v1 list request.
fn v1_list_request(
    address: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<(Address, ListParams), V1> {
    let addr = address
        .parse()
        .map_err(|e| v1_bad(format!("invalid address {address}: {e}")))?;
    Ok((addr, ListParams::parse(q)?))
}

async fn v1_transactions(
    State(s): Shr,
    Path(address): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> V1 {
    let (addr, p) = match v1_list_request(&address, &q) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let chain = lock(&s);
    // As TronGrid indexes them: the owner, and the recipient of TRX; a
    // TRC-20 recipient is only in the trc20 list.
    let (page, next) = p.page(&chain, &addr, |ex| {
        let from = ex.from == addr;
        let to = ex.asset == "TRX" && ex.to == addr;
        p.direction(from, to)
    });
    let items = page
        .into_iter()
        .map(|(tx, ex)| {
            let mut m = match transaction_json(tx, Some(ex), false) {
                Value::Object(m) => m,
                _ => unreachable!("transaction_json builds an object"),
            };
            m.insert(
                "ret".into(),
                json!([{"contractRet": ex.outcome.as_str(), "fee": ex.fee}]),
            );
            m.insert("blockNumber".into(), ex.block.into());
            m.insert("block_timestamp".into(), ex.block_timestamp_ms.into());
            m.insert("net_usage".into(), ex.net_usage.into());
            m.insert("net_fee".into(), ex.net_fee.into());
            m.insert("energy_usage".into(), ex.energy_usage.into());
            m.insert("energy_fee".into(), ex.energy_fee.into());
            m.insert("energy_usage_total".into(), ex.energy_usage_total.into());
            m.insert("internal_transactions".into(), json!([]));
            Value::Object(m)
        })
        .collect();
    v1_page(items, next)
}

async fn v1_trc20(
    State(s): Shr,
    Path(address): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> V1 {
    let (addr, p) = match v1_list_request(&address, &q) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let chain = lock(&s);
    let usdt = chain.config.usdt_contract;
    if let Some(c) = q.get("contract_address") {
        match c.parse::<Address>() {
            Ok(c) if c == usdt => {}
            Ok(_) => return v1_page(Vec::new(), None),
            Err(e) => return v1_bad(format!("invalid contract_address: {e}")),
        }
    }
    let (page, next) = p.page(&chain, &addr, |ex| {
        let (from, to) = (ex.from == addr, ex.to == addr);
        ex.asset == "USDT" && ex.outcome == Outcome::Success && p.direction(from, to)
    });
    let items = page
        .into_iter()
        .map(|(tx, ex)| {
            json!({
                "transaction_id": tx.txid().to_hex(),
                "token_info": {
                    "symbol": "USDT", "address": usdt.to_base58(),
                    "decimals": 6, "name": "Tether USD"
                },
                "block_timestamp": ex.block_timestamp_ms,
                "from": ex.from.to_base58(),
                "to": ex.to.to_base58(),
                "type": "Transfer",
                "value": ex.amount.to_string(),
            })
        })
        .collect();
    v1_page(items, next)
}

// ---- /sim -------------------------------------------------------------------

pub(super) fn sim_bad(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.to_string()})),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FundRequest {
    address: Address,
    #[serde(default)]
    trx_sun: u64,
    #[serde(default)]
    usdt: u64,
    /// A `--token` contract to credit `token_units` of.
    token: Option<Address>,
    #[serde(default)]
    token_units: u64,
}

async fn fund(State(s): Shr, text: String) -> Response {
    let req: FundRequest = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            return sim_bad(format!(
                "expected {{\"address\",\"trx_sun\",\"usdt\",\"token\",\"token_units\"}}: {e}"
            ));
        }
    };
    let mut chain = lock(&s);
    // Checked before anything changes, so a bad request changes nothing.
    let minted = match req.token {
        Some(token) => match chain.token_balance_after(&token, &req.address, req.token_units) {
            Ok(balance) => Some((token, balance)),
            Err(e) => return sim_bad(e),
        },
        None => None,
    };
    if let Err(e) = chain.fund(req.address, req.trx_sun, req.usdt, now_ms()) {
        return sim_bad(e);
    }
    if let Some((token, balance)) = minted {
        chain.set_token_balance(&token, req.address, balance);
    }
    Json(json!({
        "address": req.address,
        "trx_sun": chain.state.accounts.get(&req.address).map_or(0, |a| a.trx),
        "usdt": chain.state.usdt.get(&req.address).copied().unwrap_or(0),
    }))
    .into_response()
}

async fn ledger(State(s): Shr) -> Json<Value> {
    let chain = lock(&s);
    let mut addresses: Vec<Address> = chain.state.accounts.keys().copied().collect();
    addresses.extend(chain.state.usdt.keys().copied());
    for balances in chain.state.tokens.values() {
        addresses.extend(balances.keys().copied());
    }
    addresses.sort();
    addresses.dedup();
    let accounts: Vec<Value> = addresses
        .iter()
        .map(|a| {
            let acct = chain.state.accounts.get(a);
            json!({
                "address": a,
                "activated": acct.is_some(),
                "trx_sun": acct.map_or(0, |x| x.trx),
                "usdt": chain.state.usdt.get(a).copied().unwrap_or(0),
                // The `--token` contracts' units, by contract.
                "tokens": chain
                    .state
                    .tokens
                    .iter()
                    .filter_map(|(token, b)| Some((token.to_base58(), b.get(a).copied()?.into())))
                    .collect::<Map<String, Value>>(),
                "free_net_used": chain.free_net_used(a),
                "staked_sun": acct.map_or(0, |x| {
                    x.frozen.iter().sum::<u64>()
                        + x.delegated_out.iter().sum::<u64>()
                        + x.unfreezing.iter().map(|u| u.1).sum::<u64>()
                }),
            })
        })
        .collect();
    let transactions: Vec<Value> = chain
        .applied
        .iter()
        .filter_map(|id| chain.mined(id, false))
        .map(|(tx, ex)| {
            json!({
                "txid": tx.txid(),
                "broadcasts": chain.broadcasts.get(&tx.txid()).copied().unwrap_or(0),
                "block": ex.block,
                "block_timestamp": ex.block_timestamp_ms,
                "asset": ex.asset,
                "from": ex.from,
                "to": ex.to,
                "amount": ex.amount,
                "result": ex.outcome,
                "fee_sun": ex.fee,
                "net_usage": ex.net_usage,
                "net_fee_sun": ex.net_fee,
                "energy_usage": ex.energy_usage_total,
                "energy_from_stake": ex.energy_usage,
                "energy_fee_sun": ex.energy_fee,
                "created_account": ex.created_account,
            })
        })
        .collect();
    let mut never_mined: Vec<&TxId> = chain.limbo.iter().collect();
    never_mined.sort();
    Json(json!({
        "head_block": chain.head().number,
        "solid_block": chain.solid_head().number,
        "usdt_contract": chain.config.usdt_contract,
        "accounts": accounts,
        "transactions": transactions,
        "pending": chain.pool,
        "never_mined": never_mined,
        "dropped": chain.dropped,
        "totals": {
            "funded_trx_sun": chain.funded_trx,
            "funded_usdt": chain.funded_usdt,
            "burned_sun": chain.burned,
        },
    }))
}

async fn set_faults(State(s): Shr, text: String) -> Response {
    let f: Faults = match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(e) => return sim_bad(format!("invalid faults: {e}")),
    };
    if let Err(e) = f.validate() {
        return sim_bad(e);
    }
    *s.faults.lock().expect("faults lock") = f.clone();
    Json(f).into_response()
}

async fn get_faults(State(s): Shr) -> Json<Faults> {
    Json(s.faults.lock().expect("faults lock").clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto3_json_leaves_defaults_out() {
        let mut m = Map::new();
        put(&mut m, "balance", 0u64);
        put(&mut m, "data", "");
        put(&mut m, "amount", 5u64);
        assert_eq!(Value::Object(m), json!({"amount": 5}));
    }
}
