//! The node routes standard client libraries (tronpy, TronWeb) call to
//! build, sign and send transactions, beyond what walletops' own client
//! uses: `getnodeinfo`, the server-side builders, JSON broadcast, sign
//! weights, contract metadata and the `/walletsolidity/` account.
//!
//! Shapes follow java-tron's servlets: errors are HTTP 200 with an error
//! body, `visible` picks base58 or hex addresses, and a `Return` message is
//! text when visible, else the hex of its text.

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde_json::{Map, Value, json};
use sha3::{Digest, Keccak256};

use super::chain::{Chain, Reject};
use super::routes::{
    Answer, Shr, account, address_field, body, lock, node_error, permission_json, put, raw_json,
    resources, show, sun_field, trigger_constant, visible,
};
use super::{Shared, now_ms, roll, trc20};
use crate::tron::address::Address;
use crate::tron::tx::{
    Contract, Permission, PermissionKey, PermissionType, RawTransaction, Resource,
    SignedTransaction,
};
use crate::tron::{Sun, TxSignature};
use axum::Json;

/// The routes of this module, for `routes::router`.
pub(super) fn routes() -> Vec<(&'static str, MethodRouter<std::sync::Arc<Shared>>)> {
    // Libraries send some of these as GET without a body (TronWeb's
    // getnodeinfo), so every route takes both methods, as the node's do.
    fn both<H, T>(h: H) -> MethodRouter<std::sync::Arc<Shared>>
    where
        H: axum::handler::Handler<T, std::sync::Arc<Shared>>,
        T: 'static,
    {
        post(h.clone()).get(h)
    }
    vec![
        ("/wallet/getnodeinfo", both(node_info)),
        ("/wallet/createtransaction", both(create_transaction)),
        ("/wallet/broadcasttransaction", both(broadcast_json)),
        ("/wallet/triggersmartcontract", both(trigger_smart_contract)),
        ("/wallet/estimateenergy", both(estimate_energy)),
        ("/wallet/getcontract", both(get_contract)),
        ("/wallet/getcontractinfo", both(get_contract_info)),
        (
            "/wallet/getaccountnet",
            both(|State(s): Shr, text: String| async move { resources(&s, &text, false) }),
        ),
        ("/wallet/getsignweight", both(sign_weight)),
        ("/wallet/getapprovedlist", both(approved_list)),
        (
            "/walletsolidity/getaccount",
            both(|State(s): Shr, text: String| async move { account(&s, &text, true) }),
        ),
    ]
}

/// java-tron's servlets read GET requests' parameters from the query
/// string (TronWeb sends them so): such a request gets them as its JSON body.
/// Short all-digit values become numbers; everything else stays text.
pub(super) async fn query_as_body(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    if parts.method != Method::GET || query.is_empty() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let pairs: Vec<(String, String)> = match Query::try_from_uri(&parts.uri) {
        Ok(Query(p)) => p,
        Err(e) => return node_error(format!("invalid query string: {e}")).into_response(),
    };
    let object: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| {
            let value = match v.parse::<u64>() {
                Ok(n) if v.len() < 20 => Value::from(n),
                _ => Value::from(v),
            };
            (k, value)
        })
        .collect();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let json = Value::Object(object).to_string();
    next.run(Request::from_parts(parts, Body::from(json))).await
}

/// Any other path: a TRON error object naming the path, instead of an
/// empty 404.
pub(super) async fn unknown_route(uri: Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "Error": format!(
                "class java.lang.IllegalArgumentException : tron-sim does not serve {}; docs/tron.md lists the routes it does",
                uri.path()
            )
        })),
    )
        .into_response()
}

/// The `Return` of a refused build or broadcast: `code`, and `message` as
/// text when visible, else hex.
fn refusal(r: &Reject, vis: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("code".into(), r.code.into());
    let message = if vis {
        r.message.clone()
    } else {
        hex::encode(&r.message)
    };
    m.insert("message".into(), message.into());
    m
}

/// An unsigned transaction as the builder routes answer it.
fn unsigned_json(raw: &RawTransaction, vis: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("visible".into(), vis.into());
    m.insert("txID".into(), raw.txid().to_hex().into());
    m.insert("raw_data".into(), raw_json(raw, vis));
    m.insert("raw_data_hex".into(), hex::encode(raw.encode()).into());
    m
}

fn block_line(number: u64, id: &[u8; 32]) -> String {
    format!("Num:{number},ID:{}", hex::encode(id))
}

async fn node_info(State(s): Shr) -> Answer {
    let chain = lock(&s);
    let (head, solid) = (chain.head(), chain.solid_head());
    Json(json!({
        "beginSyncNum": head.number,
        "block": block_line(head.number, &head.id),
        "solidityBlock": block_line(solid.number, &solid.id),
        "currentConnectCount": 0,
        "activeConnectCount": 0,
        "passiveConnectCount": 0,
        "totalFlow": 0,
        "peerInfoList": [],
        "configNodeInfo": {
            "codeVersion": concat!("tron-sim ", env!("CARGO_PKG_VERSION")),
            "versionNum": env!("CARGO_PKG_VERSION"),
            "p2pVersion": "0",
            "discoverEnable": false,
            "activeNodeSize": 0,
            "passiveNodeSize": 0,
            "sendNodeSize": 0,
            "maxConnectCount": 0,
            "sameIpMaxConnectCount": 0,
            "backupListenPort": 0,
            "backupMemberSize": 0,
            "backupPriority": 0,
            "dbVersion": 0,
            "minParticipationRate": 0,
            "supportConstant": true,
            "minTimeRatio": 0.0,
            "maxTimeRatio": 5.0,
            "allowCreationOfContracts": 1,
            "allowAdaptiveEnergy": 0
        },
        "machineInfo": {"threadCount": 0, "cpuCount": 0, "javaVersion": "", "osName": "tron-sim"},
        "cheatWitnessInfoMap": {}
    }))
}

/// `/wallet/createtransaction`: a TRX transfer built by the node.
async fn create_transaction(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let contract = match transfer_request(&v) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let chain = lock(&s);
    match chain.build(contract, now_ms()) {
        Ok(raw) => Json(Value::Object(unsigned_json(&raw, visible(&v)))),
        Err(r) => validate_error(&r),
    }
}

fn transfer_request(v: &Value) -> Result<Contract, Answer> {
    Ok(Contract::Transfer {
        owner: address_field(v, "owner_address")?,
        to: address_field(v, "to_address")?,
        amount: sun_field(v, "amount")?,
    })
}

fn validate_error(r: &Reject) -> Answer {
    Json(json!({
        "Error": format!("class org.tron.core.exception.ContractValidateException : {}", r.message)
    }))
}

/// The calldata of a call request: `data` as given, or the selector of
/// `function_selector` followed by `parameter`.
fn call_data(v: &Value) -> Result<Vec<u8>, Answer> {
    let hex_field = |key: &str| {
        hex::decode(v[key].as_str().unwrap_or_default())
            .map_err(|e| node_error(format!("{key} is not hex: {e}")))
    };
    if let Some(selector) = v["function_selector"].as_str().filter(|f| !f.is_empty()) {
        let mut data = Keccak256::digest(selector.as_bytes())[..4].to_vec();
        data.extend(hex_field("parameter")?);
        return Ok(data);
    }
    hex_field("data")
}

/// `/wallet/triggersmartcontract`: the unsigned contract call.
async fn trigger_smart_contract(State(s): Shr, text: String) -> Answer {
    let v = match body(&text) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let vis = visible(&v);
    let request = (|| {
        Ok::<_, Answer>((
            Contract::TriggerSmartContract {
                owner: address_field(&v, "owner_address")?,
                contract: address_field(&v, "contract_address")?,
                call_value: sun_field(&v, "call_value")?,
                data: call_data(&v)?,
            },
            sun_field(&v, "fee_limit")?,
        ))
    })();
    let (contract, fee_limit) = match request {
        Ok(x) => x,
        Err(e) => return e,
    };
    let built = lock(&s).build_with_fee_limit(contract, fee_limit, now_ms());
    let raw = match built {
        Ok(raw) => raw,
        Err(r) => return Json(json!({ "result": refusal(&r, vis) })),
    };
    let mut answer = json!({"result": {"result": true}, "transaction": unsigned_json(&raw, vis)});
    // For a view function the node runs the call as a constant one and
    // answers its result beside the transaction.
    let selector = v["function_selector"].as_str().unwrap_or_default();
    if VIEW_FUNCTIONS.contains(&selector) {
        let Json(constant) = trigger_constant(State(s), text).await;
        for key in ["constant_result", "energy_used"] {
            if let Some(value) = constant.get(key) {
                answer[key] = value.clone();
            }
        }
    }
    Json(answer)
}

/// The TRC-20 functions [`trc20_abi`] marks constant.
const VIEW_FUNCTIONS: [&str; 6] = [
    "name()",
    "symbol()",
    "decimals()",
    "totalSupply()",
    "balanceOf(address)",
    "allowance(address,address)",
];

/// `/wallet/estimateenergy`: the energy the call would use, from the same
/// execution as `triggerconstantcontract` (base usage plus penalty).
async fn estimate_energy(state: Shr, text: String) -> Answer {
    let vis = body(&text).map(|v| visible(&v)).unwrap_or(false);
    let Json(constant) = trigger_constant(state, text).await;
    if constant.get("Error").is_some() || constant["result"].get("code").is_some() {
        return Json(constant);
    }
    if constant["transaction"]["ret"][0]["ret"] == "FAILED" {
        let r = Reject {
            code: "CONTRACT_EXE_ERROR",
            message: "REVERT opcode executed".into(),
        };
        return Json(json!({ "result": refusal(&r, vis) }));
    }
    let used = constant["energy_used"].as_u64().unwrap_or(0);
    let penalty = constant["energy_penalty"].as_u64().unwrap_or(0);
    Json(json!({"result": {"result": true}, "energy_required": used + penalty}))
}

/// The ABI of a TRC-20 token in the node's `entrys` shape.
fn trc20_abi() -> Value {
    let param = |name: &str, ty: &str| json!({"name": name, "type": ty});
    let event_param =
        |name: &str, ty: &str| json!({"indexed": ty == "address", "name": name, "type": ty});
    let function = |name: &str, inputs: Vec<Value>, output: &str, view: bool| {
        let mut f = json!({
            "name": name,
            "inputs": inputs,
            "outputs": [param("", output)],
            "type": "Function",
            "stateMutability": if view { "View" } else { "Nonpayable" },
        });
        if view {
            f["constant"] = true.into();
        }
        f
    };
    json!({"entrys": [
        function("name", vec![], "string", true),
        function("symbol", vec![], "string", true),
        function("decimals", vec![], "uint8", true),
        function("totalSupply", vec![], "uint256", true),
        function("balanceOf", vec![param("who", "address")], "uint256", true),
        function("allowance", vec![param("owner", "address"), param("spender", "address")], "uint256", true),
        function("transfer", vec![param("to", "address"), param("value", "uint256")], "bool", false),
        function("approve", vec![param("spender", "address"), param("value", "uint256")], "bool", false),
        function(
            "transferFrom",
            vec![param("from", "address"), param("to", "address"), param("value", "uint256")],
            "bool",
            false,
        ),
        {"name": "Transfer", "type": "Event",
         "inputs": [event_param("from", "address"), event_param("to", "address"), event_param("value", "uint256")]},
        {"name": "Approval", "type": "Event",
         "inputs": [event_param("owner", "address"), event_param("spender", "address"), event_param("value", "uint256")]},
    ]})
}

/// A token contract the simulator serves (USDT or a `--token`) as
/// `SmartContract` JSON; `None` for any other address.
fn smart_contract(chain: &Chain, addr: &Address, vis: bool) -> Option<Map<String, Value>> {
    let spec = trc20::spec(&chain.config, addr)?;
    // USDT under mainnet's contract name; a declared token under its symbol.
    let name = if *addr == chain.config.usdt_contract {
        "TetherToken".to_string()
    } else {
        spec.symbol
    };
    let mut m = Map::new();
    // The simulator deploys nothing: the token's creator is the zero account.
    m.insert(
        "origin_address".into(),
        show(&Address::from_evm([0; 20]), vis),
    );
    m.insert("contract_address".into(), show(addr, vis));
    m.insert("abi".into(), trc20_abi());
    m.insert("bytecode".into(), "6080604052".into());
    m.insert("consume_user_resource_percent".into(), 30.into());
    m.insert("name".into(), name.into());
    m.insert("origin_energy_limit".into(), 10_000_000.into());
    Some(m)
}

/// The address in `value` and whether the request is visible.
fn value_request(text: &str) -> Result<(Address, bool), Answer> {
    let v = body(text)?;
    Ok((address_field(&v, "value")?, visible(&v)))
}

async fn get_contract(State(s): Shr, text: String) -> Answer {
    let (addr, vis) = match value_request(&text) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let chain = lock(&s);
    Json(smart_contract(&chain, &addr, vis).map_or(json!({}), Value::Object))
}

async fn get_contract_info(State(s): Shr, text: String) -> Answer {
    let (addr, vis) = match value_request(&text) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let chain = lock(&s);
    let Some(contract) = smart_contract(&chain, &addr, vis) else {
        return Json(json!({}));
    };
    Json(json!({
        "runtimecode": contract["bytecode"],
        "smart_contract": contract,
        "contract_state": {"update_cycle": chain.head().number},
    }))
}

// ---- transactions as JSON ---------------------------------------------------

/// A transaction in the node's JSON (`raw_data` and `signature`), read as
/// java-tron's `Util.packTransaction` does: from `raw_data`, whatever
/// `txID` or `raw_data_hex` say. Addresses may be hex or base58.
fn transaction_from_json(v: &Value) -> Result<SignedTransaction, String> {
    let raw = &v["raw_data"];
    if !raw.is_object() {
        return Err("raw_data isn't set.".into());
    }
    let fixed_hex = |key: &str| -> Result<Vec<u8>, String> {
        hex::decode(raw[key].as_str().unwrap_or_default())
            .map_err(|e| format!("raw_data.{key} is not hex: {e}"))
    };
    let int = |key: &str| int_at(raw, "raw_data", key);
    let contracts = raw["contract"].as_array().map_or(&[][..], Vec::as_slice);
    let [contract] = contracts else {
        return Err(format!(
            "raw_data.contract must hold exactly one contract, found {}",
            contracts.len()
        ));
    };
    let permission_id = match &contract["Permission_id"] {
        Value::Null => 0,
        n => n
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p >= 0)
            .ok_or("contract.Permission_id must be a permission id (0 owner, 2 and up active)")?,
    };
    let raw_tx = RawTransaction {
        ref_block_bytes: fixed_hex("ref_block_bytes")?
            .try_into()
            .map_err(|_| "raw_data.ref_block_bytes must be 2 bytes of hex")?,
        ref_block_hash: fixed_hex("ref_block_hash")?
            .try_into()
            .map_err(|_| "raw_data.ref_block_hash must be 8 bytes of hex")?,
        expiration_ms: int("expiration")?,
        data: fixed_hex("data")?,
        contract: contract_from_json(contract)?,
        timestamp_ms: int("timestamp")?,
        fee_limit: Sun(u64::try_from(int("fee_limit")?)
            .map_err(|_| "raw_data.fee_limit must not be negative")?),
        permission_id,
    };
    let signatures = match &v["signature"] {
        Value::Null => Vec::new(),
        Value::Array(sigs) => sigs
            .iter()
            .map(|s| {
                s.as_str()
                    .and_then(|s| hex::decode(s).ok())
                    .ok_or_else(|| format!("signature {s} is not hex"))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("signature must be a list, got {other}")),
    };
    Ok(SignedTransaction::from_parts(raw_tx, signatures))
}

fn contract_from_json(c: &Value) -> Result<Contract, String> {
    let kind = c["type"].as_str().unwrap_or_default();
    let p = &c["parameter"]["value"];
    let addr = |key: &str| -> Result<Address, String> {
        p[key]
            .as_str()
            .ok_or_else(|| format!("{kind}.{key} isn't set."))?
            .parse()
            .map_err(|e| format!("Invalid {kind}.{key}: {e}"))
    };
    let num = |key: &str| -> Result<u64, String> {
        match &p[key] {
            Value::Null => Ok(0),
            n => n
                .as_u64()
                .ok_or_else(|| format!("{kind}.{key} must be a non-negative integer")),
        }
    };
    let resource = || -> Result<Resource, String> {
        match p["resource"].as_str() {
            None => Ok(Resource::Bandwidth),
            Some(r) => r
                .parse()
                .map_err(|_| format!("{kind}.resource {r} is not BANDWIDTH or ENERGY")),
        }
    };
    let bytes = |key: &str| -> Result<Vec<u8>, String> {
        hex::decode(p[key].as_str().unwrap_or_default())
            .map_err(|e| format!("{kind}.{key} is not hex: {e}"))
    };
    Ok(match kind {
        "TransferContract" => Contract::Transfer {
            owner: addr("owner_address")?,
            to: addr("to_address")?,
            amount: Sun(num("amount")?),
        },
        "TransferAssetContract" => Contract::TransferAsset {
            asset_name: bytes("asset_name")?,
            owner: addr("owner_address")?,
            to: addr("to_address")?,
            amount: num("amount")?,
        },
        "TriggerSmartContract" => Contract::TriggerSmartContract {
            owner: addr("owner_address")?,
            contract: addr("contract_address")?,
            call_value: Sun(num("call_value")?),
            data: bytes("data")?,
        },
        "FreezeBalanceV2Contract" => Contract::FreezeBalanceV2 {
            owner: addr("owner_address")?,
            frozen_balance: Sun(num("frozen_balance")?),
            resource: resource()?,
        },
        "UnfreezeBalanceV2Contract" => Contract::UnfreezeBalanceV2 {
            owner: addr("owner_address")?,
            unfreeze_balance: Sun(num("unfreeze_balance")?),
            resource: resource()?,
        },
        "WithdrawExpireUnfreezeContract" => Contract::WithdrawExpireUnfreeze {
            owner: addr("owner_address")?,
        },
        "DelegateResourceContract" => Contract::DelegateResource {
            owner: addr("owner_address")?,
            resource: resource()?,
            balance: Sun(num("balance")?),
            receiver: addr("receiver_address")?,
            lock: p["lock"].as_bool().unwrap_or(false),
            lock_period: num("lock_period")?,
        },
        "UnDelegateResourceContract" => Contract::UnDelegateResource {
            owner: addr("owner_address")?,
            resource: resource()?,
            balance: Sun(num("balance")?),
            receiver: addr("receiver_address")?,
        },
        "AccountPermissionUpdateContract" => Contract::AccountPermissionUpdate {
            owner: addr("owner_address")?,
            owner_permission: permission_from_json(&p["owner"], "owner")?,
            witness: match &p["witness"] {
                Value::Null => None,
                w => Some(permission_from_json(w, "witness")?),
            },
            actives: p["actives"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|a| permission_from_json(a, "actives"))
                .collect::<Result<_, _>>()?,
        },
        other => {
            return Err(format!(
                "contract type {other:?} is not supported by tron-sim"
            ));
        }
    })
}

/// The integer `v[key]`, 0 when absent (proto3's default); `path` names
/// `v` in the error.
fn int_at(v: &Value, path: &str, key: &str) -> Result<i64, String> {
    match &v[key] {
        Value::Null => Ok(0),
        n => n
            .as_i64()
            .ok_or_else(|| format!("{path}.{key} must be an integer")),
    }
}

/// A `Permission` as `routes::permission_json` renders it (an absent field
/// is its default: an owner permission has no `type` and no `id`).
fn permission_from_json(p: &Value, what: &str) -> Result<Permission, String> {
    let int = |key: &str| int_at(p, what, key);
    let small = |key: &str| -> Result<i32, String> {
        i32::try_from(int(key)?).map_err(|_| format!("{what}.{key} is out of range"))
    };
    let kind = match &p["type"] {
        Value::Null => PermissionType::Owner,
        Value::String(t) => t
            .parse()
            .map_err(|_| format!("{what}.type {t} is not Owner, Witness or Active"))?,
        n => n
            .as_u64()
            .and_then(|c| PermissionType::from_code(c).ok())
            .ok_or_else(|| format!("{what}.type {n} is not 0, 1 or 2"))?,
    };
    let keys = p["keys"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|k| {
            let address = k["address"]
                .as_str()
                .ok_or_else(|| format!("{what}.keys[].address isn't set."))?
                .parse()
                .map_err(|e| format!("Invalid {what}.keys[].address: {e}"))?;
            let weight = k["weight"]
                .as_i64()
                .ok_or_else(|| format!("{what}.keys[].weight must be an integer"))?;
            Ok(PermissionKey { address, weight })
        })
        .collect::<Result<_, String>>()?;
    Ok(Permission {
        kind,
        id: small("id")?,
        name: p["permission_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        threshold: int("threshold")?,
        parent_id: small("parent_id")?,
        operations: hex::decode(p["operations"].as_str().unwrap_or_default())
            .map_err(|e| format!("{what}.operations is not hex: {e}"))?,
        keys,
    })
}

/// A request whose body is a transaction, and whether it is visible.
fn transaction_request(text: &str) -> Result<(SignedTransaction, bool), Answer> {
    let v = body(text)?;
    Ok((transaction_from_json(&v).map_err(node_error)?, visible(&v)))
}

/// `/wallet/broadcasttransaction`: a signed transaction as JSON.
async fn broadcast_json(State(s): Shr, text: String) -> Answer {
    let (tx, vis) = match transaction_request(&text) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let never_mine = roll() < s.faults.lock().expect("faults lock").rate_never_mined;
    let mut chain = lock(&s);
    let txid = tx.txid().to_hex();
    match chain.broadcast(&tx.encode(), never_mine) {
        Ok(_) => Json(json!({"result": true, "txid": txid})),
        Err(r) => {
            let mut m = refusal(&r, vis);
            m.insert("txid".into(), txid.into());
            Json(Value::Object(m))
        }
    }
}

/// What `getsignweight` and `getapprovedlist` share: the `transaction`
/// part of the answer, and who signed (or the `result` of a signature that
/// does not recover).
fn signature_check(
    tx: &SignedTransaction,
    vis: bool,
) -> (Map<String, Value>, Result<Vec<Address>, Value>) {
    let mut tx_json = unsigned_json(tx.raw(), vis);
    if !tx.signatures().is_empty() {
        tx_json.insert(
            "signature".into(),
            tx.signatures().iter().map(hex::encode).collect(),
        );
    }
    let mut m = Map::new();
    m.insert(
        "transaction".into(),
        json!({"result": {"result": true}, "txid": tx.txid().to_hex(), "transaction": tx_json}),
    );
    let signers = tx
        .signatures()
        .iter()
        .map(|sig| TxSignature::from_slice(sig).and_then(|sig| sig.recover(&tx.txid())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| json!({"code": "SIGNATURE_FORMAT_ERROR", "message": e.to_string()}));
    (m, signers)
}

/// `/wallet/getsignweight`: whose signatures a transaction carries and
/// whether their weights reach the threshold of the permission it names
/// (`Permission_id`), as java-tron's `getTransactionSignWeight` answers.
async fn sign_weight(State(s): Shr, text: String) -> Answer {
    let (tx, vis) = match transaction_request(&text) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let weight = lock(&s).sign_weight(&tx);
    let (mut m, _) = signature_check(&tx, vis);
    if let Some(p) = &weight.permission {
        m.insert("permission".into(), permission_json(p, vis));
    }
    put(&mut m, "current_weight", weight.current_weight);
    put(
        &mut m,
        "approved_list",
        weight
            .approved_list
            .iter()
            .map(|a| show(a, vis))
            .collect::<Vec<_>>(),
    );
    let mut result = Map::new();
    result.insert("code".into(), json!(weight.code));
    put(&mut result, "message", weight.message);
    m.insert("result".into(), Value::Object(result));
    Json(Value::Object(m))
}

/// `/wallet/getapprovedlist`: the addresses that signed (TronWeb's
/// multi-signature helpers ask it).
async fn approved_list(text: String) -> Answer {
    let (tx, vis) = match transaction_request(&text) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let (mut m, signers) = signature_check(&tx, vis);
    match signers {
        Ok(list) => {
            put(
                &mut m,
                "approved_list",
                list.iter().map(|a| show(a, vis)).collect::<Vec<_>>(),
            );
            m.insert("result".into(), json!({"code": "SUCCESS"}));
        }
        Err(result) => {
            m.insert("result".into(), result);
        }
    }
    Json(Value::Object(m))
}
