//! HTTP client for the java-tron full-node API as TronGrid serves it
//! (`/wallet/...`, `/walletsolidity/...`, `/v1/accounts/...`).
//!
//! The node reports most errors as HTTP 200 with an error body, omits
//! zero-valued fields and answers `{}` for unknown accounts and
//! transactions; this module turns all of that into types. Reads are retried
//! with exponential backoff and jitter on rate limits, busy nodes, 5xx and
//! connection failures. A broadcast is retried only when the node provably
//! did not take it; when that cannot be known the error is
//! [`ClientError::Ambiguous`]. Nothing here ever rebuilds a transaction: the
//! caller re-broadcasts the same signed bytes or checks the receipt.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::address::Address;
use super::amount::{Sun, TokenUnits};
use super::tx::{
    Contract, RawTransaction, RefBlock, Resource, SignedTransaction, TRANSFER_EVENT_TOPIC, TxId,
    address_word, trc20_transfer_data, word_to_u64,
};
use crate::config::Secret;

/// The header TronGrid reads the API key from.
pub const API_KEY_HEADER: &str = "TRON-PRO-API-KEY";

/// How the client talks to the node.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://api.trongrid.io` or a simulator's URL.
    pub base_url: Url,
    pub api_key: Option<Secret>,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts after the first for a retryable failure.
    pub max_retries: u32,
    /// First backoff delay; doubles per attempt up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Client-side request rate (token bucket); `None` means unlimited.
    pub requests_per_second: Option<f64>,
}

impl ClientConfig {
    /// Defaults that suit TronGrid's free tier.
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            api_key: None,
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_retries: 5,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(15),
            requests_per_second: Some(10.0),
        }
    }

    /// From the settings (`TRON_API_URL`, `TRON_API_KEY`); `None` when no
    /// API URL is configured.
    pub fn from_settings(settings: &crate::config::Settings) -> Option<Self> {
        let mut config = Self::new(settings.tron_api_url.clone()?);
        config.api_key = settings.tron_api_key.clone();
        Some(config)
    }
}

/// What a handler should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try the same request again later.
    Retryable,
    /// Trying again will not help.
    Final,
    /// A broadcast may or may not have reached the node: re-broadcast the
    /// same bytes or look the txID up; never build a new transaction.
    Ambiguous,
    /// The node refused our credentials (HTTP 401, or a 403 that is no rate
    /// limit): nothing works until someone fixes the API key or the node's
    /// access rules, so retrying only burns time.
    Denied,
}

/// A broadcast refusal code, as java-tron names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BroadcastCode {
    SigError,
    ContractValidate,
    ContractExe,
    Bandwidth,
    Duplicate,
    Tapos,
    TooBig,
    Expiration,
    ServerBusy,
    NoConnection,
    NotEnoughEffectiveConnection,
    Other(String),
}

impl BroadcastCode {
    /// The node did not take the transaction for a passing reason: the same
    /// bytes may be sent again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::ServerBusy | Self::NoConnection | Self::NotEnoughEffectiveConnection
        )
    }

    /// This txID can never land: its reference block is unknown or it has
    /// expired. Only these make building a replacement safe.
    pub fn can_never_land(&self) -> bool {
        matches!(self, Self::Tapos | Self::Expiration)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::SigError => "SIGERROR",
            Self::ContractValidate => "CONTRACT_VALIDATE_ERROR",
            Self::ContractExe => "CONTRACT_EXE_ERROR",
            Self::Bandwidth => "BANDWITH_ERROR",
            Self::Duplicate => "DUP_TRANSACTION_ERROR",
            Self::Tapos => "TAPOS_ERROR",
            Self::TooBig => "TOO_BIG_TRANSACTION_ERROR",
            Self::Expiration => "TRANSACTION_EXPIRATION_ERROR",
            Self::ServerBusy => "SERVER_BUSY",
            Self::NoConnection => "NO_CONNECTION",
            Self::NotEnoughEffectiveConnection => "NOT_ENOUGH_EFFECTIVE_CONNECTION",
            Self::Other(s) => s,
        }
    }
}

impl FromStr for BroadcastCode {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "SIGERROR" => Self::SigError,
            "CONTRACT_VALIDATE_ERROR" => Self::ContractValidate,
            "CONTRACT_EXE_ERROR" => Self::ContractExe,
            "BANDWITH_ERROR" => Self::Bandwidth,
            "DUP_TRANSACTION_ERROR" => Self::Duplicate,
            "TAPOS_ERROR" => Self::Tapos,
            "TOO_BIG_TRANSACTION_ERROR" => Self::TooBig,
            "TRANSACTION_EXPIRATION_ERROR" => Self::Expiration,
            "SERVER_BUSY" => Self::ServerBusy,
            "NO_CONNECTION" => Self::NoConnection,
            "NOT_ENOUGH_EFFECTIVE_CONNECTION" => Self::NotEnoughEffectiveConnection,
            other => Self::Other(other.to_string()),
        })
    }
}

impl fmt::Display for BroadcastCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong talking to the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Rate limit, busy node, 5xx or connection failure, still so after the
    /// retries: the same request may succeed later.
    #[error("TRON node unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// A broadcast whose outcome is unknown (timeout or lost connection after
    /// sending, a 5xx): the transaction may be in the node's pool.
    #[error("broadcast outcome unknown: {detail}")]
    Ambiguous { detail: String },
    /// The node refused the transaction (bad signature, insufficient
    /// balance, expired, unknown reference block, ...).
    #[error("node rejected the transaction: {code}: {message}")]
    Rejected {
        code: BroadcastCode,
        message: String,
    },
    /// A constant contract call reverted (e.g. a TRC-20 transfer that would fail).
    #[error("contract call reverted: {0}")]
    Reverted(String),
    /// The node answered a query with an error that retrying will not fix
    /// (HTTP 200 `{"Error": ...}`, a 4xx).
    #[error("TRON API error: {0}")]
    Api(String),
    /// The node refused the credentials (HTTP 401 or 403): a wrong, missing
    /// or revoked API key, or an address the node does not serve.
    #[error("TRON node denied access (check TRON_API_KEY): {0}")]
    Denied(String),
    /// An answer this client does not understand.
    #[error("unexpected answer from the TRON API: {0}")]
    Protocol(String),
    /// The node does not have this block in the view asked: not produced
    /// (or, in the solidified view, not solidified) yet, or pruned from a
    /// node that keeps no old history. Compare with the view's head to tell
    /// which.
    #[error("the TRON node has no block {number} in this view (not there yet, or pruned)")]
    BlockUnavailable { number: u64 },
    /// The request was not sent because it is malformed (a caller's bug).
    #[error("invalid TRON request: {0}")]
    Invalid(String),
}

impl ClientError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Unavailable { .. } => ErrorClass::Retryable,
            Self::Rejected { code, .. } if code.is_transient() => ErrorClass::Retryable,
            Self::Ambiguous { .. } => ErrorClass::Ambiguous,
            Self::Denied(_) => ErrorClass::Denied,
            Self::Rejected { .. }
            | Self::Reverted(_)
            | Self::Api(_)
            | Self::Protocol(_)
            | Self::BlockUnavailable { .. }
            | Self::Invalid(_) => ErrorClass::Final,
        }
    }
}

/// Which view of the chain a lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The node's head: fast, may still be reorganised.
    Head,
    /// Solidified blocks only (`/walletsolidity/`): final.
    Solidified,
}

impl View {
    fn prefix(self) -> &'static str {
        match self {
            View::Head => "/wallet",
            View::Solidified => "/walletsolidity",
        }
    }
}

/// The most blocks one `getblockbylimitnext` returns (java-tron's
/// `BLOCK_LIMIT_NUM`).
pub const MAX_BLOCK_RANGE: u64 = 100;

/// A blockID: the block number in its first 8 bytes, then 24 bytes of the
/// block's hash. A block that changes in a fork keeps its number and gets
/// another id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub [u8; 32]);

impl BlockId {
    pub fn number(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl FromStr for BlockId {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 32];
        hex::decode_to_slice(s, &mut id)
            .map_err(|_| ClientError::Protocol(format!("blockID {s:?} is not 64 hex digits")))?;
        Ok(Self(id))
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({})", self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlockId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A block and its transactions (`getblockbynum`, `getblockbylimitnext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub number: u64,
    pub id: BlockId,
    pub parent: BlockId,
    pub timestamp_ms: i64,
    pub transactions: Vec<BlockTransaction>,
}

impl Block {
    /// The block as a TaPoS reference for new transactions.
    pub fn reference(&self) -> RefBlock {
        RefBlock {
            number: self.number,
            id: self.id.0,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// A transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTransaction {
    pub txid: TxId,
    /// `contractRet`: `SUCCESS`, `REVERT`, `OUT_OF_ENERGY`, ...
    pub contract_ret: Option<String>,
    /// The contract's type as the node names it (`TransferContract`,
    /// `TriggerSmartContract`, `VoteWitnessContract`, ...).
    pub contract_type: String,
    /// The decoded contract (`Transfer`: owner, to, amount;
    /// `TriggerSmartContract`: owner, contract, data; ...); `None` for
    /// types walletops does not decode.
    pub contract: Option<Contract>,
}

impl BlockTransaction {
    pub fn succeeded(&self) -> bool {
        self.contract_ret.as_deref() == Some("SUCCESS")
    }
}

/// An activated account (`/wallet/getaccount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub address: Address,
    pub balance: Sun,
    pub create_time_ms: i64,
}

/// Bandwidth and energy of an account (`/wallet/getaccountresource`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccountResource {
    #[serde(rename = "freeNetUsed")]
    pub free_net_used: u64,
    #[serde(rename = "freeNetLimit")]
    pub free_net_limit: u64,
    #[serde(rename = "NetUsed")]
    pub net_used: u64,
    #[serde(rename = "NetLimit")]
    pub net_limit: u64,
    #[serde(rename = "EnergyUsed")]
    pub energy_used: u64,
    #[serde(rename = "EnergyLimit")]
    pub energy_limit: u64,
    /// The network's daily bandwidth shared by stake (`TotalNetLimit`).
    #[serde(rename = "TotalNetLimit")]
    pub total_net_limit: u64,
    /// TRX (not SUN) staked for bandwidth network-wide (`TotalNetWeight`).
    #[serde(rename = "TotalNetWeight")]
    pub total_net_weight: u64,
    /// The network's daily energy shared by stake (`TotalEnergyLimit`).
    #[serde(rename = "TotalEnergyLimit")]
    pub total_energy_limit: u64,
    /// TRX (not SUN) staked for energy network-wide (`TotalEnergyWeight`):
    /// with the limit it prices a delegation in energy.
    #[serde(rename = "TotalEnergyWeight")]
    pub total_energy_weight: u64,
}

impl AccountResource {
    pub fn free_net_available(&self) -> u64 {
        self.free_net_limit.saturating_sub(self.free_net_used)
    }

    pub fn energy_available(&self) -> u64 {
        self.energy_limit.saturating_sub(self.energy_used)
    }

    /// Bandwidth bytes the account's own stake gives that are left today
    /// (the free daily allowance not counted).
    pub fn staked_net_available(&self) -> u64 {
        self.net_limit.saturating_sub(self.net_used)
    }

    /// Staked SUN whose energy share is at least `energy`, by this answer's
    /// network totals (see [`stake_for_share`]). `None` when the node
    /// reports no energy limit, or on overflow.
    pub fn stake_for_energy(&self, energy: u64) -> Option<Sun> {
        stake_for_share(energy, self.total_energy_limit, self.total_energy_weight)
    }

    /// Staked SUN whose bandwidth share is at least `bytes` a day, as
    /// [`Self::stake_for_energy`] for bandwidth.
    pub fn stake_for_bandwidth(&self, bytes: u64) -> Option<Sun> {
        stake_for_share(bytes, self.total_net_limit, self.total_net_weight)
    }
}

/// The node gives an account `whole TRX staked × limit / weight` of a
/// resource (rounded down), so this rounds up to whole TRX, plus one TRX
/// for the node's rounding.
fn stake_for_share(amount: u64, limit: u64, weight: u64) -> Option<Sun> {
    if limit == 0 {
        return None;
    }
    let trx = (u128::from(amount) * u128::from(weight)).div_ceil(u128::from(limit)) + 1;
    u64::try_from(trx)
        .ok()?
        .checked_mul(crate::tron::amount::SUN_PER_TRX)
        .map(Sun)
}

/// An amount per resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerResource {
    pub bandwidth: Sun,
    pub energy: Sun,
}

impl PerResource {
    pub fn get(&self, resource: Resource) -> Sun {
        match resource {
            Resource::Bandwidth => self.bandwidth,
            Resource::Energy => self.energy,
        }
    }

    fn add(&mut self, resource: Resource, amount: Sun) {
        let slot = match resource {
            Resource::Bandwidth => &mut self.bandwidth,
            Resource::Energy => &mut self.energy,
        };
        *slot = Sun(slot.0.saturating_add(amount.0));
    }
}

/// TRX on its way out of stake (`unfrozenV2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfreezing {
    pub resource: Resource,
    pub amount: Sun,
    /// When it can be withdrawn, ms since the epoch.
    pub expire_ms: i64,
}

/// An account's Stake 2.0 amounts as `getaccount` reports them; all zero for
/// an account that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StakeV2 {
    /// Staked by the account, not counting what it delegates out
    /// (`frozenV2`); [`Self::staked`] counts both.
    pub frozen: PerResource,
    /// Staked TRX whose resource the account lends to others.
    pub delegated_out: PerResource,
    /// Staked TRX others lend to the account.
    pub acquired: PerResource,
    pub unfreezing: Vec<Unfreezing>,
}

impl StakeV2 {
    /// All the account staked for `resource`, lent out or not.
    pub fn staked(&self, resource: Resource) -> Sun {
        Sun(self
            .frozen
            .get(resource)
            .0
            .saturating_add(self.delegated_out.get(resource).0))
    }
}

/// One delegation from `from` to `to` (`getdelegatedresourcev2`); the node
/// lists the unlocked and the locked part separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelegatedResource {
    pub from: Address,
    pub to: Address,
    /// Staked SUN whose resource is lent.
    pub frozen: PerResource,
    /// Until when a locked delegation cannot be taken back, ms since the
    /// epoch; 0 when unlocked.
    pub expire_bandwidth_ms: i64,
    pub expire_energy_ms: i64,
}

/// Whom an account delegates to and receives from
/// (`getdelegatedresourceaccountindexv2`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelegationIndex {
    pub to_accounts: Vec<Address>,
    pub from_accounts: Vec<Address>,
}

/// Energy a contract call would use (`triggerconstantcontract`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnergyEstimate {
    pub energy_used: u64,
    /// Extra energy under the dynamic energy model.
    pub energy_penalty: u64,
}

impl EnergyEstimate {
    pub fn total(&self) -> u64 {
        self.energy_used.saturating_add(self.energy_penalty)
    }
}

/// The chain parameters walletops prices transfers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParameters {
    /// SUN per unit of energy (`getEnergyFee`).
    pub energy_fee: Sun,
    /// SUN per byte of bandwidth (`getTransactionFee`).
    pub transaction_fee: Sun,
    /// TRX burned when a transfer creates an account
    /// (`getCreateNewAccountFeeInSystemContract`).
    pub create_new_account_fee_in_system_contract: Sun,
    /// Bandwidth-equivalent fee to create an account (`getCreateAccountFee`).
    pub create_account_fee: Sun,
    /// Every parameter by name, as the node gave them.
    pub all: BTreeMap<String, i64>,
}

/// A transaction as `gettransactionbyid` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub txid: TxId,
    /// `contractRet` of the first result, e.g. `SUCCESS`, `REVERT`; `None`
    /// while unexecuted.
    pub contract_ret: Option<String>,
    pub raw: Option<RawTransaction>,
}

/// One event log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub address: Address,
    pub topics: Vec<[u8; 32]>,
    pub data: Vec<u8>,
}

/// A TRC-20 `Transfer` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trc20TransferLog {
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: TokenUnits,
}

/// A receipt (`gettransactioninfobyid`): exists once the transaction is in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    pub txid: TxId,
    pub block_number: u64,
    pub block_timestamp_ms: i64,
    /// Total TRX burned (bandwidth, energy, activation).
    pub fee: Sun,
    /// Energy from the caller's stake, own or delegated to it
    /// (`receipt.energy_usage`).
    pub energy_usage: u64,
    /// Energy the contract's deployer paid (`receipt.origin_energy_usage`).
    pub origin_energy_usage: u64,
    /// All energy used, from stake or bought by burning `energy_fee`.
    pub energy_usage_total: u64,
    pub energy_fee: Sun,
    pub net_usage: u64,
    pub net_fee: Sun,
    /// `receipt.result` for contract calls (`SUCCESS`, `REVERT`,
    /// `OUT_OF_ENERGY`, ...); `None` for plain transfers.
    pub receipt_result: Option<String>,
    /// The top-level `result` was `FAILED`.
    pub failed: bool,
    /// `resMessage`, decoded from hex when it is.
    pub message: Option<String>,
    pub logs: Vec<Log>,
}

impl TransactionInfo {
    /// Executed without failure (for contract calls: `receipt.result` SUCCESS).
    pub fn succeeded(&self) -> bool {
        !self.failed
            && self
                .receipt_result
                .as_deref()
                .is_none_or(|r| r == "SUCCESS")
    }

    /// The `Transfer` events emitted by `token`.
    pub fn trc20_transfers(&self, token: &Address) -> Vec<Trc20TransferLog> {
        self.logs
            .iter()
            .filter(|l| &l.address == token && l.topics.len() == 3)
            .filter(|l| hex::encode(l.topics[0]) == TRANSFER_EVENT_TOPIC)
            .filter_map(|l| {
                let addr = |t: &[u8; 32]| Address::from_evm(t[12..].try_into().expect("20"));
                Some(Trc20TransferLog {
                    token: *token,
                    from: addr(&l.topics[1]),
                    to: addr(&l.topics[2]),
                    amount: TokenUnits(word_to_u64(&l.data)?),
                })
            })
            .collect()
    }
}

/// An account as TronGrid v1 `/v1/accounts/{address}` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Account {
    pub address: Address,
    pub balance: Sun,
    /// TRC-20 balances by token contract.
    pub trc20: BTreeMap<Address, TokenUnits>,
}

/// One page of a v1 list and the fingerprint of the next, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Filters of `/v1/accounts/{a}/transactions` and `.../transactions/trc20`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub only_confirmed: bool,
    pub only_to: bool,
    pub only_from: bool,
    /// At most 200.
    pub limit: Option<u32>,
    pub min_timestamp_ms: Option<i64>,
    /// TRC-20 list only: the token contract.
    pub contract_address: Option<Address>,
    /// From the previous page's [`Page::next`].
    pub fingerprint: Option<String>,
}

/// An item of `/v1/accounts/{a}/transactions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Transaction {
    pub txid: TxId,
    pub block_number: u64,
    pub block_timestamp_ms: i64,
    pub contract_ret: Option<String>,
    /// The decoded contract; `None` for types walletops does not decode.
    pub contract: Option<Contract>,
    pub fee: Sun,
}

/// An item of `/v1/accounts/{a}/transactions/trc20`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Trc20Transfer {
    pub txid: TxId,
    pub block_timestamp_ms: i64,
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: TokenUnits,
    /// `Transfer`, `Approval`, ...: only `Transfer` moves tokens.
    pub kind: String,
}

/// How a broadcast ended when the node took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastOutcome {
    /// The node accepted the transaction into its pool.
    Accepted,
    /// The node already knows this txID. Not proof that it landed: only the
    /// receipt is.
    Duplicate,
}

/// A token bucket: at most `rate` requests per second, bursts of up to one
/// second's worth.
#[derive(Debug)]
struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    fn new(rate: f64) -> Self {
        Self {
            rate,
            state: Mutex::new((rate.max(1.0), Instant::now())),
        }
    }

    async fn acquire(&self) {
        let burst = self.rate.max(1.0);
        let wait = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            let tokens = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(burst);
            // Take the token now, even if it is owed: waiters queue up in order.
            *s = (tokens - 1.0, now);
            if tokens >= 1.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64((1.0 - tokens) / self.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// One request to the node.
enum Call<'a> {
    Post(&'a str, Value),
    Get(&'a str, Vec<(&'static str, String)>),
}

/// Why one attempt failed, before retries are decided.
enum Failure {
    /// The node did not process the request (connect error, 429, 503, rate
    /// limit body, busy): safe to send again, even a broadcast.
    NotTaken {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The request may have been processed (timeout, dropped connection,
    /// other 5xx): safe to repeat for reads only.
    Unknown {
        detail: String,
    },
    Final(ClientError),
}

/// The client. Cheap to clone; clones share the connection pool and the
/// rate limit.
#[derive(Debug, Clone)]
pub struct TronClient {
    http: reqwest::Client,
    config: std::sync::Arc<ClientConfig>,
    limiter: Option<std::sync::Arc<RateLimiter>>,
}

impl TronClient {
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        install_crypto_provider();
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = reqwest::header::HeaderValue::from_str(key.expose())
                .map_err(|_| ClientError::Api("TRON_API_KEY is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(API_KEY_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| ClientError::Protocol(format!("cannot build the HTTP client: {e}")))?;
        let limiter = config
            .requests_per_second
            .filter(|r| *r > 0.0)
            .map(|r| std::sync::Arc::new(RateLimiter::new(r)));
        Ok(Self {
            http,
            config: std::sync::Arc::new(config),
            limiter,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// The account, or `None` when it is not activated (`{}`).
    pub async fn get_account(&self, address: &Address) -> Result<Option<Account>, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getaccount",
                json!({"address": address.to_base58(), "visible": true}),
            ))
            .await?;
        if is_empty(&v) {
            return Ok(None);
        }
        #[derive(Deserialize)]
        struct Raw {
            address: Address,
            #[serde(default)]
            balance: u64,
            #[serde(default)]
            create_time: i64,
        }
        let raw: Raw = parse(v)?;
        Ok(Some(Account {
            address: raw.address,
            balance: Sun(raw.balance),
            create_time_ms: raw.create_time,
        }))
    }

    /// Whether a smart contract is deployed at `address`
    /// (`/wallet/getcontract` answers `{}` for any other address).
    pub async fn is_contract(&self, address: &Address) -> Result<bool, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getcontract",
                json!({"value": address.to_base58(), "visible": true}),
            ))
            .await?;
        Ok(v.get("contract_address").is_some() || v.get("bytecode").is_some())
    }

    /// The account's TRX balance; 0 for an account that does not exist.
    pub async fn trx_balance(&self, address: &Address) -> Result<Sun, ClientError> {
        Ok(self
            .get_account(address)
            .await?
            .map(|a| a.balance)
            .unwrap_or_default())
    }

    /// Bandwidth and energy; all zero but the free limit for a new account.
    pub async fn get_account_resource(
        &self,
        address: &Address,
    ) -> Result<AccountResource, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getaccountresource",
                json!({"address": address.to_base58(), "visible": true}),
            ))
            .await?;
        parse(v)
    }

    /// The Stake 2.0 amounts of `getaccount`. Staking, delegating and their
    /// reversal are signed transactions like any other: build a
    /// [`Contract::FreezeBalanceV2`] (or `UnfreezeBalanceV2`,
    /// `DelegateResource`, `UnDelegateResource`) into a [`RawTransaction`],
    /// sign it and [`broadcast`](Self::broadcast) it.
    pub async fn stake_v2(&self, address: &Address) -> Result<StakeV2, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getaccount",
                json!({"address": address.to_base58(), "visible": true}),
            ))
            .await?;
        let sun = |v: &Value| Sun(v.as_u64().unwrap_or(0));
        let mut stake = StakeV2::default();
        for f in v["frozenV2"].as_array().into_iter().flatten() {
            // TRON_POWER stake (governance) carries no resource walletops uses.
            if let Some(r) = resource_of(&f["type"]) {
                stake.frozen.add(r, sun(&f["amount"]));
            }
        }
        for u in v["unfrozenV2"].as_array().into_iter().flatten() {
            if let Some(resource) = resource_of(&u["type"]) {
                stake.unfreezing.push(Unfreezing {
                    resource,
                    amount: sun(&u["unfreeze_amount"]),
                    expire_ms: u["unfreeze_expire_time"].as_i64().unwrap_or(0),
                });
            }
        }
        // The node keeps the bandwidth amounts at the top level and the
        // energy ones inside `account_resource`.
        let ar = &v["account_resource"];
        stake.delegated_out = PerResource {
            bandwidth: sun(&v["delegated_frozenV2_balance_for_bandwidth"]),
            energy: sun(&ar["delegated_frozenV2_balance_for_energy"]),
        };
        stake.acquired = PerResource {
            bandwidth: sun(&v["acquired_delegated_frozenV2_balance_for_bandwidth"]),
            energy: sun(&ar["acquired_delegated_frozenV2_balance_for_energy"]),
        };
        Ok(stake)
    }

    /// Staked SUN whose energy `from` lends, per receiver, in the order of
    /// its delegation index, the first `most` receivers read; receivers lent
    /// bandwidth alone are left out.
    pub async fn energy_lent(
        &self,
        from: &Address,
        most: usize,
    ) -> Result<Vec<(Address, Sun)>, ClientError> {
        let mut lent = Vec::new();
        for to in self
            .delegated_resource_index_v2(from)
            .await?
            .to_accounts
            .into_iter()
            .take(most)
        {
            let sun: u64 = self
                .delegated_resource_v2(from, &to)
                .await?
                .iter()
                .map(|d| d.frozen.energy.0)
                .sum();
            if sun > 0 {
                lent.push((to, Sun(sun)));
            }
        }
        Ok(lent)
    }

    /// The delegations from `from` to `to`; empty when there are none.
    pub async fn delegated_resource_v2(
        &self,
        from: &Address,
        to: &Address,
    ) -> Result<Vec<DelegatedResource>, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getdelegatedresourcev2",
                json!({"fromAddress": from.to_base58(), "toAddress": to.to_base58(), "visible": true}),
            ))
            .await?;
        let sun = |v: &Value| Sun(v.as_u64().unwrap_or(0));
        let address = |v: &Value, key: &str| {
            v.as_str()
                .and_then(|a| a.parse::<Address>().ok())
                .ok_or_else(|| ClientError::Protocol(format!("delegation without a valid {key}")))
        };
        v["delegatedResource"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                Ok(DelegatedResource {
                    from: address(&d["from"], "from")?,
                    to: address(&d["to"], "to")?,
                    frozen: PerResource {
                        bandwidth: sun(&d["frozen_balance_for_bandwidth"]),
                        energy: sun(&d["frozen_balance_for_energy"]),
                    },
                    expire_bandwidth_ms: d["expire_time_for_bandwidth"].as_i64().unwrap_or(0),
                    expire_energy_ms: d["expire_time_for_energy"].as_i64().unwrap_or(0),
                })
            })
            .collect()
    }

    /// Whom `address` delegates to and receives delegations from.
    pub async fn delegated_resource_index_v2(
        &self,
        address: &Address,
    ) -> Result<DelegationIndex, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getdelegatedresourceaccountindexv2",
                json!({"value": address.to_base58(), "visible": true}),
            ))
            .await?;
        let list = |key: &str| -> Result<Vec<Address>, ClientError> {
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a.as_str()
                        .and_then(|a| a.parse::<Address>().ok())
                        .ok_or_else(|| ClientError::Protocol(format!("{key} holds a bad address")))
                })
                .collect()
        };
        Ok(DelegationIndex {
            to_accounts: list("toAccounts")?,
            from_accounts: list("fromAccounts")?,
        })
    }

    /// The most staked SUN `owner` can delegate for `resource` now
    /// (`getcandelegatedmaxsize`); 0 when nothing is available.
    pub async fn can_delegated_max_size(
        &self,
        owner: &Address,
        resource: Resource,
    ) -> Result<Sun, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/getcandelegatedmaxsize",
                json!({"owner_address": owner.to_base58(), "type": resource.code(), "visible": true}),
            ))
            .await?;
        Ok(Sun(v["max_size"].as_u64().unwrap_or(0)))
    }

    /// `balanceOf(holder)` on a TRC-20 token.
    pub async fn trc20_balance(
        &self,
        token: &Address,
        holder: &Address,
    ) -> Result<TokenUnits, ClientError> {
        let v = self
            .constant_call(
                holder,
                token,
                "balanceOf(address)",
                &hex::encode(address_word(holder)),
            )
            .await?;
        let word = v["constant_result"][0]
            .as_str()
            .ok_or_else(|| ClientError::Protocol("balanceOf returned no constant_result".into()))?;
        let bytes = hex::decode(word)
            .map_err(|_| ClientError::Protocol("balanceOf result is not hex".into()))?;
        word_to_u64(&bytes)
            .map(TokenUnits)
            .ok_or_else(|| ClientError::Protocol("balanceOf result does not fit u64".into()))
    }

    /// Energy a TRC-20 `transfer(to, amount)` from `owner` would use now.
    pub async fn estimate_trc20_transfer(
        &self,
        owner: &Address,
        token: &Address,
        to: &Address,
        amount: TokenUnits,
    ) -> Result<EnergyEstimate, ClientError> {
        let data = trc20_transfer_data(to, amount);
        let v = self
            .constant_call(
                owner,
                token,
                "transfer(address,uint256)",
                &hex::encode(&data[4..]),
            )
            .await?;
        Ok(EnergyEstimate {
            energy_used: v["energy_used"].as_u64().unwrap_or(0),
            energy_penalty: v["energy_penalty"].as_u64().unwrap_or(0),
        })
    }

    async fn constant_call(
        &self,
        owner: &Address,
        contract: &Address,
        selector: &str,
        parameter: &str,
    ) -> Result<Value, ClientError> {
        let v = self
            .read(Call::Post(
                "/wallet/triggerconstantcontract",
                json!({
                    "owner_address": owner.to_base58(),
                    "contract_address": contract.to_base58(),
                    "function_selector": selector,
                    "parameter": parameter,
                    "visible": true,
                }),
            ))
            .await?;
        if v["result"]["result"].as_bool() != Some(true) {
            let message = v["result"]["message"]
                .as_str()
                .map(decode_message)
                .unwrap_or_default();
            return Err(ClientError::Api(format!(
                "{}: {message}",
                v["result"]["code"].as_str().unwrap_or("call failed")
            )));
        }
        // A revert comes back as result.result=true with the transaction's ret FAILED.
        if v["transaction"]["ret"][0]["ret"].as_str() == Some("FAILED") {
            let reason = v["constant_result"][0]
                .as_str()
                .map(revert_reason)
                .unwrap_or_default();
            return Err(ClientError::Reverted(reason));
        }
        Ok(v)
    }

    /// The head block, as the reference block for new transactions.
    pub async fn now_block(&self) -> Result<RefBlock, ClientError> {
        self.block(View::Head).await
    }

    /// The head block of a view (the solidified head tells whether an
    /// expired transaction can still land).
    pub async fn block(&self, view: View) -> Result<RefBlock, ClientError> {
        let path = match view {
            View::Head => "/wallet/getnowblock",
            View::Solidified => "/walletsolidity/getnowblock",
        };
        let v = self.read(Call::Post(path, json!({}))).await?;
        let id = v["blockID"]
            .as_str()
            .and_then(|s| {
                let mut id = [0u8; 32];
                hex::decode_to_slice(s, &mut id).ok().map(|_| id)
            })
            .ok_or_else(|| ClientError::Protocol("getnowblock without a valid blockID".into()))?;
        let raw = &v["block_header"]["raw_data"];
        Ok(RefBlock {
            number: raw["number"].as_u64().unwrap_or(0),
            id,
            timestamp_ms: raw["timestamp"].as_i64().unwrap_or(0),
        })
    }

    /// Block `number` with its transactions; [`ClientError::BlockUnavailable`]
    /// when the view does not have it.
    pub async fn block_by_num(&self, number: u64, view: View) -> Result<Block, ClientError> {
        let path = format!("{}/getblockbynum", view.prefix());
        let v = self
            .read(Call::Post(&path, json!({ "num": number })))
            .await?;
        if is_empty(&v) {
            return Err(ClientError::BlockUnavailable { number });
        }
        let block = parse_block(v)?;
        if block.number != number {
            return Err(ClientError::Protocol(format!(
                "asked for block {number}, got block {}",
                block.number
            )));
        }
        Ok(block)
    }

    /// The blocks of `range` (at most [`MAX_BLOCK_RANGE`]) in one request
    /// (`getblockbylimitnext`), oldest first: from `range.start` on, up to
    /// the view's head or the first block the node lacks.
    /// [`ClientError::BlockUnavailable`] when it lacks `range.start`.
    pub async fn blocks(
        &self,
        range: std::ops::Range<u64>,
        view: View,
    ) -> Result<Vec<Block>, ClientError> {
        if range.is_empty() || range.end - range.start > MAX_BLOCK_RANGE {
            return Err(ClientError::Invalid(format!(
                "a block range holds 1 to {MAX_BLOCK_RANGE} blocks, got {range:?}"
            )));
        }
        let path = format!("{}/getblockbylimitnext", view.prefix());
        let v = self
            .read(Call::Post(
                &path,
                json!({ "startNum": range.start, "endNum": range.end }),
            ))
            .await?;
        let mut blocks = Vec::new();
        // A node lacking some blocks returns the next ones it has: keep the
        // run that starts where asked and has no gap.
        for item in v["block"].as_array().into_iter().flatten() {
            let block = parse_block(item.clone())?;
            if block.number != range.start + blocks.len() as u64 || !range.contains(&block.number) {
                break;
            }
            blocks.push(block);
        }
        if blocks.is_empty() {
            return Err(ClientError::BlockUnavailable {
                number: range.start,
            });
        }
        Ok(blocks)
    }

    /// The receipts of block `number`'s transactions, with their logs
    /// ([`TransactionInfo::trc20_transfers`] reads the TRC-20 transfers).
    /// The node answers an empty list for a block it does not have, so read
    /// the block first.
    pub async fn transaction_infos_by_block(
        &self,
        number: u64,
        view: View,
    ) -> Result<Vec<TransactionInfo>, ClientError> {
        let path = format!("{}/gettransactioninfobyblocknum", view.prefix());
        let v = self
            .read(Call::Post(&path, json!({ "num": number })))
            .await?;
        match &v {
            Value::Array(items) => items.iter().map(parse_info).collect(),
            // The node's answer for block 0 and below.
            v if is_empty(v) => Ok(Vec::new()),
            _ => Err(ClientError::Protocol(
                "gettransactioninfobyblocknum did not answer a list".into(),
            )),
        }
    }

    pub async fn chain_parameters(&self) -> Result<ChainParameters, ClientError> {
        let v = self
            .read(Call::Post("/wallet/getchainparameters", json!({})))
            .await?;
        let list = v["chainParameter"].as_array().ok_or_else(|| {
            ClientError::Protocol("getchainparameters without chainParameter".into())
        })?;
        let all: BTreeMap<String, i64> = list
            .iter()
            .filter_map(|p| {
                // A zero value is omitted, like every proto3 default.
                Some((
                    p["key"].as_str()?.to_string(),
                    p["value"].as_i64().unwrap_or(0),
                ))
            })
            .collect();
        let sun = |k: &str| Sun(all.get(k).copied().unwrap_or(0).max(0) as u64);
        Ok(ChainParameters {
            energy_fee: sun("getEnergyFee"),
            transaction_fee: sun("getTransactionFee"),
            create_new_account_fee_in_system_contract: sun(
                "getCreateNewAccountFeeInSystemContract",
            ),
            create_account_fee: sun("getCreateAccountFee"),
            all,
        })
    }

    /// Sends the exact signed bytes (`/wallet/broadcasthex`). Retried only
    /// while the node provably did not take them.
    pub async fn broadcast(&self, tx: &SignedTransaction) -> Result<BroadcastOutcome, ClientError> {
        let body = json!({"transaction": tx.to_hex()});
        let mut attempt = 0;
        loop {
            let outcome = match self
                .attempt(&Call::Post("/wallet/broadcasthex", body.clone()))
                .await
            {
                Ok(v) => broadcast_result(&v),
                Err(f) => Err(f),
            };
            match outcome {
                Ok(o) => return Ok(o),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Unknown { detail }) => return Err(ClientError::Ambiguous { detail }),
                Err(Failure::NotTaken {
                    detail,
                    retry_after,
                }) => {
                    if attempt >= self.config.max_retries {
                        return Err(ClientError::Unavailable {
                            detail,
                            retry_after,
                        });
                    }
                    tracing::debug!(txid = %tx.txid(), %detail, "broadcast not taken; same bytes again");
                    tokio::time::sleep(self.backoff(attempt, retry_after)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The transaction, or `None` if the view does not know it.
    pub async fn transaction(
        &self,
        txid: &TxId,
        view: View,
    ) -> Result<Option<TransactionRecord>, ClientError> {
        let path = format!("{}/gettransactionbyid", view.prefix());
        let v = self
            .read(Call::Post(&path, json!({"value": txid.to_hex()})))
            .await?;
        if is_empty(&v) {
            return Ok(None);
        }
        let raw = v["raw_data_hex"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| RawTransaction::decode(&b).ok());
        Ok(Some(TransactionRecord {
            txid: *txid,
            contract_ret: v["ret"][0]["contractRet"].as_str().map(str::to_string),
            raw,
        }))
    }

    /// The receipt, or `None` until the transaction is in a block of that view.
    pub async fn transaction_info(
        &self,
        txid: &TxId,
        view: View,
    ) -> Result<Option<TransactionInfo>, ClientError> {
        let path = format!("{}/gettransactioninfobyid", view.prefix());
        let v = self
            .read(Call::Post(&path, json!({"value": txid.to_hex()})))
            .await?;
        if is_empty(&v) {
            return Ok(None);
        }
        parse_info(&v).map(Some)
    }

    /// The v1 account, or `None` when TronGrid has no data for it.
    pub async fn v1_account(&self, address: &Address) -> Result<Option<V1Account>, ClientError> {
        let path = format!("/v1/accounts/{address}");
        let v = self
            .read(Call::Get(&path, vec![("only_confirmed", "true".into())]))
            .await?;
        let Some(item) = v["data"].as_array().and_then(|d| d.first()) else {
            return Ok(None);
        };
        let mut trc20 = BTreeMap::new();
        for entry in item["trc20"].as_array().into_iter().flatten() {
            for (token, value) in entry.as_object().into_iter().flatten() {
                let token: Address = token
                    .parse()
                    .map_err(|e| ClientError::Protocol(format!("trc20 token {token}: {e}")))?;
                trc20.insert(token, decimal_units(value)?);
            }
        }
        Ok(Some(V1Account {
            address: parse(item["address"].clone())?,
            balance: Sun(item["balance"].as_u64().unwrap_or(0)),
            trc20,
        }))
    }

    /// One page of the account's transactions.
    pub async fn v1_transactions(
        &self,
        address: &Address,
        query: &ListQuery,
    ) -> Result<Page<V1Transaction>, ClientError> {
        let path = format!("/v1/accounts/{address}/transactions");
        let v = self.read(Call::Get(&path, query.params())).await?;
        let items = list_items(&v)?
            .iter()
            .map(|t| {
                Ok(V1Transaction {
                    txid: parse(t["txID"].clone())?,
                    block_number: t["blockNumber"].as_u64().unwrap_or(0),
                    block_timestamp_ms: t["block_timestamp"].as_i64().unwrap_or(0),
                    contract_ret: t["ret"][0]["contractRet"].as_str().map(str::to_string),
                    contract: t["raw_data_hex"]
                        .as_str()
                        .and_then(|h| hex::decode(h).ok())
                        .and_then(|b| RawTransaction::decode(&b).ok())
                        .map(|r| r.contract),
                    fee: Sun(t["ret"][0]["fee"].as_u64().unwrap_or(0)),
                })
            })
            .collect::<Result<_, ClientError>>()?;
        Ok(Page {
            items,
            next: next_fingerprint(&v),
        })
    }

    /// One page of the account's TRC-20 transfers (and approvals: see `kind`).
    pub async fn v1_trc20_transfers(
        &self,
        address: &Address,
        query: &ListQuery,
    ) -> Result<Page<V1Trc20Transfer>, ClientError> {
        let path = format!("/v1/accounts/{address}/transactions/trc20");
        let v = self.read(Call::Get(&path, query.params())).await?;
        let items = list_items(&v)?
            .iter()
            .map(|t| {
                Ok(V1Trc20Transfer {
                    txid: parse(t["transaction_id"].clone())?,
                    block_timestamp_ms: t["block_timestamp"].as_i64().unwrap_or(0),
                    token: parse(t["token_info"]["address"].clone())?,
                    from: parse(t["from"].clone())?,
                    to: parse(t["to"].clone())?,
                    amount: decimal_units(&t["value"])?,
                    kind: t["type"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect::<Result<_, ClientError>>()?;
        Ok(Page {
            items,
            next: next_fingerprint(&v),
        })
    }

    /// A read, retried with backoff while the failure is transient.
    async fn read(&self, call: Call<'_>) -> Result<Value, ClientError> {
        let mut attempt = 0;
        loop {
            let (detail, retry_after) = match self.attempt(&call).await {
                Ok(v) => return Ok(v),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::NotTaken {
                    detail,
                    retry_after,
                }) => (detail, retry_after),
                Err(Failure::Unknown { detail }) => (detail, None),
            };
            if attempt >= self.config.max_retries {
                return Err(ClientError::Unavailable {
                    detail,
                    retry_after,
                });
            }
            tracing::debug!(%detail, attempt, "TRON read failed; retrying");
            tokio::time::sleep(self.backoff(attempt, retry_after)).await;
            attempt += 1;
        }
    }

    /// Exponential backoff with full jitter in [d/2, d], at least Retry-After.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.config.backoff_cap);
        let jitter = getrandom::u32().unwrap_or(u32::MAX / 2) as f64 / f64::from(u32::MAX);
        let d = exp.mul_f64(0.5 + 0.5 * jitter);
        d.max(retry_after.unwrap_or_default())
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Value, Failure> {
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
        let url = |path: &str| {
            self.config
                .base_url
                .join(path)
                .map_err(|e| Failure::Final(ClientError::Api(format!("bad URL {path}: {e}"))))
        };
        let request = match call {
            Call::Post(path, body) => self.http.post(url(path)?).json(body),
            Call::Get(path, query) => {
                let mut u = url(path)?;
                u.query_pairs_mut().extend_pairs(query);
                self.http.get(u)
            }
        };
        let response = request.send().await.map_err(|e| transport_failure(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|e| Failure::Unknown {
            detail: format!("reading the answer: {e}"),
        })?;
        classify(status.as_u16(), retry_after, &text)
    }
}

/// Installs rustls' ring provider for the process (reqwest is built without
/// a default provider, to avoid aws-lc-rs); a second install is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn transport_failure(e: &reqwest::Error) -> Failure {
    if e.is_connect() {
        Failure::NotTaken {
            detail: format!("cannot connect: {}", one_line(e)),
            retry_after: None,
        }
    } else if e.is_timeout() {
        Failure::Unknown {
            detail: "request timed out".into(),
        }
    } else {
        Failure::Unknown {
            detail: format!("connection failed: {}", one_line(e)),
        }
    }
}

fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

const RATE_LIMIT_WORDS: &[&str] = &["limit", "rate", "exceed", "frequen", "too many", "quota"];

/// Turns an HTTP answer into JSON or a classified failure.
fn classify(status: u16, retry_after: Option<Duration>, text: &str) -> Result<Value, Failure> {
    let short: String = text.chars().take(200).collect();
    let not_taken = |detail: String| Failure::NotTaken {
        detail,
        retry_after,
    };
    match status {
        200..=299 => {}
        429 | 503 => return Err(not_taken(format!("HTTP {status}: {short}"))),
        403 if RATE_LIMIT_WORDS
            .iter()
            .any(|w| short.to_lowercase().contains(w)) =>
        {
            return Err(not_taken(format!("HTTP 403 rate limited: {short}")));
        }
        500..=599 => {
            return Err(Failure::Unknown {
                detail: format!("HTTP {status}: {short}"),
            });
        }
        401 | 403 => {
            return Err(Failure::Final(ClientError::Denied(format!(
                "HTTP {status}: {short}"
            ))));
        }
        _ => {
            return Err(Failure::Final(ClientError::Api(format!(
                "HTTP {status}: {short}"
            ))));
        }
    }
    // A lite full node answers history queries with bare text.
    let v: Value = serde_json::from_str(text)
        .map_err(|_| Failure::Final(ClientError::Protocol(format!("not JSON: {short}"))))?;
    if let Some(err) = v.get("Error").and_then(Value::as_str) {
        if err.contains("lack of computing resources") {
            return Err(not_taken(format!("node busy: {err}")));
        }
        return Err(Failure::Final(ClientError::Api(err.to_string())));
    }
    // v1 routes report failures as success:false with an error text.
    if v.get("success").and_then(Value::as_bool) == Some(false) {
        let err = v["error"].as_str().unwrap_or("success: false").to_string();
        if RATE_LIMIT_WORDS
            .iter()
            .any(|w| err.to_lowercase().contains(w))
        {
            return Err(not_taken(err));
        }
        return Err(Failure::Final(ClientError::Api(err)));
    }
    Ok(v)
}

fn broadcast_result(v: &Value) -> Result<BroadcastOutcome, Failure> {
    if v["result"].as_bool() == Some(true) {
        return Ok(BroadcastOutcome::Accepted);
    }
    let code: BroadcastCode = v["code"]
        .as_str()
        .unwrap_or("UNKNOWN")
        .parse()
        .expect("infallible");
    let message = v["message"]
        .as_str()
        .map(decode_message)
        .unwrap_or_default();
    match code {
        BroadcastCode::Duplicate => Ok(BroadcastOutcome::Duplicate),
        c if c.is_transient() => Err(Failure::NotTaken {
            detail: format!("{c}: {message}"),
            retry_after: None,
        }),
        code => Err(Failure::Final(ClientError::Rejected { code, message })),
    }
}

/// The node sends `message` as hex of UTF-8 unless `visible=true`.
fn decode_message(m: &str) -> String {
    hex::decode(m)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| m.to_string())
}

/// The `Error(string)` text of an ABI-encoded revert, when there is one.
fn revert_reason(hex_result: &str) -> String {
    let Ok(b) = hex::decode(hex_result) else {
        return hex_result.to_string();
    };
    // 08c379a0 = Error(string): offset word, length word, bytes.
    if b.len() >= 68 && b[..4] == [0x08, 0xc3, 0x79, 0xa0] {
        let len = word_to_u64(&b[36..68]).unwrap_or(0) as usize;
        if let Some(s) = b.get(68..68 + len) {
            return String::from_utf8_lossy(s).into_owned();
        }
    }
    "reverted without a reason".to_string()
}

/// The resource of a `frozenV2`/`unfrozenV2` entry: absent `type` is
/// bandwidth (the node omits the default); `None` for TRON_POWER.
fn resource_of(v: &Value) -> Option<Resource> {
    match v.as_str() {
        None => Some(Resource::Bandwidth),
        Some(t) => t.parse().ok(),
    }
}

fn is_empty(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))
}

fn list_items(v: &Value) -> Result<&Vec<Value>, ClientError> {
    v["data"]
        .as_array()
        .ok_or_else(|| ClientError::Protocol("v1 answer without data".into()))
}

fn next_fingerprint(v: &Value) -> Option<String> {
    v["meta"]["fingerprint"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// TronGrid gives token amounts as decimal strings.
fn decimal_units(v: &Value) -> Result<TokenUnits, ClientError> {
    let parsed = match v {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    parsed
        .map(TokenUnits)
        .ok_or_else(|| ClientError::Protocol(format!("token amount {v} is not a u64")))
}

/// A block as the node renders it. Each transaction's contract is decoded
/// from `raw_data_hex`, whose hash must be its txID.
fn parse_block(v: Value) -> Result<Block, ClientError> {
    #[derive(Deserialize)]
    struct RawBlock {
        #[serde(rename = "blockID")]
        id: BlockId,
        block_header: RawHeader,
        #[serde(default)]
        transactions: Vec<RawTx>,
    }
    #[derive(Deserialize)]
    struct RawHeader {
        raw_data: RawHeaderData,
    }
    #[derive(Deserialize)]
    struct RawHeaderData {
        #[serde(default)]
        number: u64,
        #[serde(default)]
        timestamp: i64,
        #[serde(rename = "parentHash")]
        parent: BlockId,
    }
    #[derive(Deserialize)]
    struct RawTx {
        #[serde(rename = "txID")]
        txid: TxId,
        raw_data_hex: String,
        #[serde(default)]
        ret: Vec<RawRet>,
        raw_data: RawTxData,
    }
    #[derive(Deserialize)]
    struct RawRet {
        #[serde(rename = "contractRet")]
        contract_ret: Option<String>,
    }
    #[derive(Deserialize)]
    struct RawTxData {
        contract: Vec<RawContract>,
    }
    #[derive(Deserialize)]
    struct RawContract {
        #[serde(rename = "type")]
        kind: String,
    }
    let raw: RawBlock = parse(v)?;
    let transactions = raw
        .transactions
        .into_iter()
        .map(|t| {
            let bytes = hex::decode(&t.raw_data_hex).map_err(|_| {
                ClientError::Protocol(format!("{}: raw_data_hex is not hex", t.txid))
            })?;
            if TxId::of_raw(&bytes) != t.txid {
                return Err(ClientError::Protocol(format!(
                    "{}: raw_data_hex does not hash to the txID",
                    t.txid
                )));
            }
            Ok(BlockTransaction {
                txid: t.txid,
                contract_ret: t.ret.into_iter().next().and_then(|r| r.contract_ret),
                contract_type: t
                    .raw_data
                    .contract
                    .into_iter()
                    .next()
                    .map(|c| c.kind)
                    .unwrap_or_default(),
                contract: RawTransaction::decode(&bytes).ok().map(|r| r.contract),
            })
        })
        .collect::<Result<_, ClientError>>()?;
    Ok(Block {
        number: raw.block_header.raw_data.number,
        id: raw.id,
        parent: raw.block_header.raw_data.parent,
        timestamp_ms: raw.block_header.raw_data.timestamp,
        transactions,
    })
}

fn parse_info(v: &Value) -> Result<TransactionInfo, ClientError> {
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    let receipt = &v["receipt"];
    let logs = v["log"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let address = l["address"]
                .as_str()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 20]>::try_from(b).ok())
                .map(Address::from_evm)
                .ok_or_else(|| ClientError::Protocol("log address is not 20 bytes".into()))?;
            let topics = l["topics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    t.as_str()
                        .and_then(|h| hex::decode(h).ok())
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| ClientError::Protocol("log topic is not 32 bytes".into()))
                })
                .collect::<Result<_, _>>()?;
            let data = hex::decode(l["data"].as_str().unwrap_or_default())
                .map_err(|_| ClientError::Protocol("log data is not hex".into()))?;
            Ok(Log {
                address,
                topics,
                data,
            })
        })
        .collect::<Result<_, ClientError>>()?;
    Ok(TransactionInfo {
        txid: parse(v["id"].clone())?,
        block_number: num(&v["blockNumber"]),
        block_timestamp_ms: v["blockTimeStamp"].as_i64().unwrap_or(0),
        fee: Sun(num(&v["fee"])),
        energy_usage: num(&receipt["energy_usage"]),
        origin_energy_usage: num(&receipt["origin_energy_usage"]),
        energy_usage_total: num(&receipt["energy_usage_total"]),
        energy_fee: Sun(num(&receipt["energy_fee"])),
        net_usage: num(&receipt["net_usage"]),
        net_fee: Sun(num(&receipt["net_fee"])),
        receipt_result: receipt["result"].as_str().map(str::to_string),
        failed: v["result"].as_str() == Some("FAILED"),
        message: v["resMessage"].as_str().map(decode_message),
        logs,
    })
}

impl ListQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("only_confirmed", self.only_confirmed.to_string())];
        if self.only_to {
            p.push(("only_to", "true".into()));
        }
        if self.only_from {
            p.push(("only_from", "true".into()));
        }
        p.push(("limit", self.limit.unwrap_or(200).min(200).to_string()));
        if let Some(t) = self.min_timestamp_ms {
            p.push(("min_timestamp", t.to_string()));
        }
        if let Some(c) = &self.contract_address {
            p.push(("contract_address", c.to_base58()));
        }
        if let Some(f) = &self.fingerprint {
            p.push(("fingerprint", f.clone()));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegation_is_priced_in_whole_trx_from_the_network_totals() {
        let network = AccountResource {
            total_energy_limit: 180_000_000_000,
            total_energy_weight: 19_000_000_000,
            ..AccountResource::default()
        };
        // 70,000 energy at 180e9 / 19e9 energy per TRX: 7,389 TRX, plus one.
        assert_eq!(network.stake_for_energy(70_000), Some(Sun::from_trx(7_390)));
        let limit = |trx: u64| trx * 180_000_000_000 / 19_000_000_000;
        assert!(limit(7_389) >= 70_000 && limit(7_388) < 70_000);
        assert_eq!(AccountResource::default().stake_for_energy(1), None);
    }

    #[test]
    fn a_receipt_without_zero_fields_parses_them_as_zero() {
        let id = "ab".repeat(32);
        // A USDT transfer paid partly with delegated energy, as the node
        // writes it.
        let staked = parse_info(&serde_json::json!({
            "id": id, "fee": 3_428_500, "blockNumber": 7, "blockTimeStamp": 1,
            "receipt": {"energy_usage": 30_000, "origin_energy_usage": 15,
                        "energy_fee": 3_428_500, "energy_usage_total": 64_300,
                        "net_usage": 345, "result": "SUCCESS"}
        }))
        .unwrap();
        assert_eq!(
            (
                staked.energy_usage,
                staked.origin_energy_usage,
                staked.energy_usage_total
            ),
            (30_000, 15, 64_300)
        );
        assert_eq!((staked.net_usage, staked.net_fee), (345, Sun::ZERO));
        // A TRX transfer creating its receiver: no energy fields at all.
        let bare = parse_info(&serde_json::json!({
            "id": id, "fee": 1_100_000, "blockNumber": 8,
            "receipt": {"net_fee": 100_000}
        }))
        .unwrap();
        assert_eq!(
            (
                bare.energy_usage,
                bare.origin_energy_usage,
                bare.energy_usage_total
            ),
            (0, 0, 0)
        );
        assert_eq!((bare.energy_fee, bare.net_usage), (Sun::ZERO, 0));
        assert_eq!((bare.fee, bare.net_fee), (Sun(1_100_000), Sun(100_000)));
    }

    #[test]
    fn errors_in_http_200_bodies_become_types() {
        let busy = classify(
            200,
            None,
            r#"{"Error":"class java.lang.IllegalAccessException : lack of computing resources"}"#,
        );
        assert!(matches!(busy, Err(Failure::NotTaken { .. })));
        let bad = classify(
            200,
            None,
            r#"{"Error":"class org.tron.core.exception.ContractValidateException : balance is not sufficient."}"#,
        );
        assert!(matches!(bad, Err(Failure::Final(ClientError::Api(_)))));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), "slow down"),
            Err(Failure::NotTaken {
                retry_after: Some(_),
                ..
            })
        ));
        assert!(matches!(
            classify(403, None, r#"{"Error":"rate limit exceeded"}"#),
            Err(Failure::NotTaken { .. })
        ));
        assert!(matches!(
            classify(403, None, "forbidden"),
            Err(Failure::Final(ClientError::Denied(_)))
        ));
        let Err(Failure::Final(denied)) = classify(401, None, r#"{"Error":"ApiKey not exists"}"#)
        else {
            panic!("401 must be final");
        };
        assert_eq!(denied.class(), ErrorClass::Denied);
        assert!(matches!(
            classify(502, None, ""),
            Err(Failure::Unknown { .. })
        ));
        assert!(matches!(
            classify(200, None, "not json from a lite node"),
            Err(Failure::Final(ClientError::Protocol(_)))
        ));
        assert!(classify(200, None, "{}").is_ok());
    }

    #[test]
    fn broadcast_codes_are_classified() {
        let r = |body: &str| broadcast_result(&serde_json::from_str(body).unwrap());
        assert_eq!(
            r(r#"{"result":true,"txid":"ab"}"#).ok(),
            Some(BroadcastOutcome::Accepted)
        );
        assert_eq!(
            r(r#"{"result":false,"code":"DUP_TRANSACTION_ERROR"}"#).ok(),
            Some(BroadcastOutcome::Duplicate)
        );
        // "Validate signature error" in hex, as the node sends it.
        let Err(Failure::Final(e)) = r(
            r#"{"result":false,"code":"SIGERROR","message":"56616c6964617465207369676e6174757265206572726f72"}"#,
        ) else {
            panic!("SIGERROR must be final");
        };
        assert_eq!(e.class(), ErrorClass::Final);
        assert!(e.to_string().contains("Validate signature error"), "{e}");
        let Err(Failure::Final(ClientError::Rejected { code, .. })) =
            r(r#"{"result":false,"code":"TAPOS_ERROR"}"#)
        else {
            panic!("TAPOS must be final");
        };
        assert!(code.can_never_land());
        assert!(matches!(
            r(r#"{"result":false,"code":"SERVER_BUSY"}"#),
            Err(Failure::NotTaken { .. })
        ));
    }

    #[test]
    fn revert_reasons_are_decoded() {
        let mut b = vec![0x08, 0xc3, 0x79, 0xa0];
        b.extend_from_slice(&crate::tron::tx::uint_word(32));
        b.extend_from_slice(&crate::tron::tx::uint_word(5));
        b.extend_from_slice(b"nope!");
        b.resize(4 + 96, 0);
        assert_eq!(revert_reason(&hex::encode(b)), "nope!");
        assert_eq!(revert_reason(""), "reverted without a reason");
    }

    #[tokio::test]
    async fn the_token_bucket_spaces_requests() {
        let l = RateLimiter::new(20.0);
        let start = std::time::Instant::now();
        for _ in 0..30 {
            l.acquire().await;
        }
        // 20 from the initial burst, 10 more at 20/s: at least ~0.5 s.
        assert!(
            start.elapsed() >= Duration::from_millis(450),
            "{:?}",
            start.elapsed()
        );
    }
}
