//! The simulated chain: accounts and their permissions, the token ledgers,
//! blocks, the pending pool, broadcast checks in java-tron's order,
//! execution with bandwidth, energy, activation and multi-signature fees,
//! expiry and solidification. No HTTP here: `routes` renders it in the node's shapes.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SimConfig;
use super::permissions::{self, AccountPermissions, SignWeight};
use super::trc20::{self, Allowances, Balances, Log};
use crate::tron::address::Address;
use crate::tron::tx::{
    Contract, RawTransaction, RefBlock, Resource, SignedTransaction, TxId, parse_trc20_transfer,
};

/// java-tron's cap on `fee_limit`: 15,000 TRX (proposal #47).
const MAX_FEE_LIMIT: u64 = 15_000_000_000;
/// java-tron adds this many bytes per contract result to the bandwidth a
/// transaction uses (`MAX_RESULT_SIZE_IN_TX`).
const RESULT_BYTES: u64 = 64;
const DAY_MS: i64 = 86_400_000;
/// A transaction may expire at most this long after the head block.
const MAX_EXPIRATION_MS: i64 = DAY_MS;
const TRX: u64 = 1_000_000;
/// What one signature and the envelope add to the raw bytes.
const SIGNED_OVERHEAD: usize = 70;
/// A locked delegation without a period is locked for 3 days of blocks.
const DEFAULT_LOCK_PERIOD_BLOCKS: u64 = 86_400;
/// `TRANSACTION_MAX_BYTE_SIZE`: the node refuses bigger transactions.
const MAX_TRANSACTION_BYTES: usize = 500 * 1024;

/// A refusal at broadcast, in the node's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> Reject {
    Reject {
        code,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Block {
    pub number: u64,
    pub id: [u8; 32],
    pub parent: [u8; 32],
    pub timestamp_ms: i64,
    pub txids: Vec<TxId>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Account {
    pub trx: u64,
    pub create_time_ms: i64,
    /// Free bandwidth used, recovering over the window like staked usage.
    pub free_net: Usage,
    /// Own stake not delegated out (`frozenV2`), SUN, by [`res`] index.
    pub frozen: [u64; 2],
    /// Stake whose resource is lent to others.
    pub delegated_out: [u64; 2],
    /// Stake others lend to this account.
    pub acquired: [u64; 2],
    /// Staked (own and acquired) resource used, recovering over the window.
    pub usage: [Usage; 2],
    /// Unstaked TRX waiting out the delay: (resource, SUN, withdrawable at).
    pub unfreezing: Vec<(Resource, u64, i64)>,
}

/// Resource units used as of `at_ms`; they recover linearly over the window.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    pub used: u64,
    pub at_ms: i64,
}

impl Usage {
    /// What is still used at `now_ms`.
    pub fn at(self, now_ms: i64, window_ms: i64) -> u64 {
        let elapsed = now_ms.saturating_sub(self.at_ms).max(0);
        if elapsed >= window_ms {
            return 0;
        }
        let left = (window_ms - elapsed) as u128;
        (self.used as u128 * left / window_ms as u128) as u64
    }
}

/// Index of a resource in the per-resource arrays.
pub fn res(r: Resource) -> usize {
    match r {
        Resource::Bandwidth => 0,
        Resource::Energy => 1,
    }
}

/// One owner's delegation to one receiver.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delegation {
    /// Undelegatable at any time, SUN of stake.
    pub balance: [u64; 2],
    /// Locked until `lock_expire_ms`.
    pub locked: [u64; 2],
    pub lock_expire_ms: [i64; 2],
}

/// Balances: activated accounts (TRX) and the token contracts' ledgers,
/// which may hold addresses that are not activated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub accounts: BTreeMap<Address, Account>,
    pub usdt: Balances,
    /// The `--token` contracts' balances, by contract.
    pub tokens: BTreeMap<Address, Balances>,
    /// TRC-20 allowances of every token, by contract.
    pub allowances: BTreeMap<Address, Allowances>,
    /// Accounts that updated their permissions (multi-signature); the
    /// others sign with `AccountPermissions::default_for`.
    pub permissions: BTreeMap<Address, AccountPermissions>,
    /// Stake 2.0 delegations keyed by (owner, receiver).
    #[serde(with = "pair_keyed")]
    pub delegations: BTreeMap<(Address, Address), Delegation>,
    /// SUN staked by the simulator's accounts (delegated or not).
    pub staked: [u64; 2],
}

/// JSON object keys are strings, so a map keyed by a pair is kept in the
/// state file as a list of `[key, value]` entries.
mod pair_keyed {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map)
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl State {
    /// `TotalEnergyWeight` / `TotalNetWeight`, in whole TRX.
    pub fn total_weight(&self, config: &SimConfig, r: Resource) -> u64 {
        let network = match r {
            Resource::Energy => config.network_energy_weight,
            Resource::Bandwidth => config.network_net_weight,
        };
        network + self.staked[res(r)] / TRX
    }

    /// `EnergyLimit` / `NetLimit`: the share of the network's resource that
    /// the account's own and acquired stake gives, as java-tron computes it.
    pub fn limit(&self, config: &SimConfig, address: &Address, r: Resource) -> u64 {
        let Some(a) = self.accounts.get(address) else {
            return 0;
        };
        let weight = (a.frozen[res(r)] + a.acquired[res(r)]) / TRX;
        let total = match r {
            Resource::Energy => config.total_energy_limit,
            Resource::Bandwidth => config.total_net_limit,
        };
        (weight as f64 * (total as f64 / self.total_weight(config, r).max(1) as f64)) as u64
    }

    /// `EnergyUsed` / `NetUsed` at `now_ms`.
    pub fn used(&self, config: &SimConfig, address: &Address, r: Resource, now_ms: i64) -> u64 {
        self.accounts.get(address).map_or(0, |a| {
            a.usage[res(r)].at(now_ms, config.resource_window_ms())
        })
    }

    /// Staked resource the account can use now.
    pub fn available(
        &self,
        config: &SimConfig,
        address: &Address,
        r: Resource,
        now_ms: i64,
    ) -> u64 {
        self.limit(config, address, r)
            .saturating_sub(self.used(config, address, r, now_ms))
    }

    /// `getcandelegatedmaxsize`: own stake minus the part of it that the
    /// account's current usage occupies.
    pub fn can_delegate(
        &self,
        config: &SimConfig,
        address: &Address,
        r: Resource,
        now_ms: i64,
    ) -> u64 {
        let Some(a) = self.accounts.get(address) else {
            return 0;
        };
        let (frozen, acquired) = (a.frozen[res(r)], a.acquired[res(r)]);
        if frozen == 0 {
            return 0;
        }
        let total = match r {
            Resource::Energy => config.total_energy_limit,
            Resource::Bandwidth => config.total_net_limit,
        };
        let used = self.used(config, address, r, now_ms) as f64;
        let usage_sun =
            used * TRX as f64 * (self.total_weight(config, r) as f64 / total.max(1) as f64);
        let own_share = (usage_sun * frozen as f64 / (frozen + acquired) as f64).ceil() as u64;
        frozen.saturating_sub(own_share)
    }

    fn consume(
        &mut self,
        config: &SimConfig,
        address: &Address,
        r: Resource,
        units: u64,
        now_ms: i64,
    ) {
        if units == 0 {
            return;
        }
        let window = config.resource_window_ms();
        let acct = self.accounts.get_mut(address).expect("validated");
        let u = &mut acct.usage[res(r)];
        *u = Usage {
            used: u.at(now_ms, window) + units,
            at_ms: now_ms,
        };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Success,
    Revert,
    OutOfEnergy,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Revert => "REVERT",
            Outcome::OutOfEnergy => "OUT_OF_ENERGY",
        }
    }
}

/// What a mined transaction did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Executed {
    pub block: u64,
    pub block_timestamp_ms: i64,
    pub outcome: Outcome,
    /// Everything burned, in SUN.
    pub fee: u64,
    pub net_usage: u64,
    pub net_fee: u64,
    pub energy_usage_total: u64,
    /// Energy paid from the caller's own and delegated stake.
    pub energy_usage: u64,
    pub energy_fee: u64,
    /// A TRX transfer that activated its recipient.
    pub created_account: bool,
    /// The token contract called, with its return (or revert) data and logs.
    pub contract: Option<Address>,
    pub output: Vec<u8>,
    pub logs: Vec<Log>,
    /// The asset moved: `TRX` or `USDT` (nothing moves unless `Success`),
    /// `TRC20` for other token calls and USDT approvals, `PERMISSION` for a
    /// permission update, or `STAKE` for Stake 2.0 contracts (`amount` is
    /// the SUN staked, unstaked or delegated; `to` the receiver of a
    /// delegation). Kept beside the receipt in a state file (a name, not a
    /// `&'static str`).
    #[serde(skip)]
    pub asset: &'static str,
    pub from: Address,
    pub to: Address,
    pub amount: u64,
}

pub struct Known {
    /// Shared with readers, who render blocks after releasing the chain lock.
    pub tx: Arc<SignedTransaction>,
    pub executed: Option<Executed>,
    pub origin: Origin,
}

/// Where a transaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Broadcast by a client.
    Broadcast,
    /// The load generator's transfer to one of its target addresses.
    Deposit,
    /// The load generator's transfer between strangers.
    Stranger,
}

/// What a fork replaced (`Chain::fork`).
#[derive(Debug, Clone, Serialize)]
pub struct Fork {
    /// The first block that changed hash.
    pub from_block: u64,
    pub depth: u64,
    /// blockIDs no longer on the chain, oldest first.
    pub orphaned: Vec<String>,
    /// Transactions now in the next block of the new branch.
    pub moved: usize,
    /// Transactions of the old head, back in the pool for the next block.
    pub to_pool: usize,
    /// Transactions dropped for good.
    pub vanished: Vec<TxId>,
}

/// What pruning removed.
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub blocks: u64,
    pub transactions: usize,
    /// The oldest block still kept.
    pub first_block: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dropped {
    pub txid: TxId,
    pub reason: String,
}

pub struct Chain {
    /// Shared with readers, who render after releasing the chain lock.
    pub config: Arc<SimConfig>,
    /// The blocks kept, oldest first: pruning drops them from the front.
    pub blocks: VecDeque<Block>,
    pub state: State,
    /// The state as of the solidified head: a fork restores it and
    /// replays the blocks above.
    pub(super) solid_state: State,
    pub(super) solid_burned: u64,
    /// Forks so far; mixed into block hashes so a replaced block differs.
    pub(super) forks: u64,
    /// Accepted and waiting for a block, in arrival order.
    pub pool: Vec<TxId>,
    /// Accepted but never to be mined (the "never mined" fault).
    pub limbo: HashSet<TxId>,
    pub txs: HashMap<TxId, Known>,
    /// Mined transactions in execution order.
    pub applied: VecDeque<TxId>,
    /// Mined transactions by the addresses they are from or to, in
    /// execution order, so an account's history costs no scan of the chain.
    by_address: HashMap<Address, VecDeque<TxId>>,
    pub dropped: Vec<Dropped>,
    /// How many times each txID was broadcast, duplicates and refusals included.
    pub broadcasts: HashMap<TxId, u32>,
    pub funded_trx: u64,
    pub funded_usdt: u64,
    pub burned: u64,
}

impl Chain {
    pub fn new(config: SimConfig, now_ms: i64) -> Self {
        let mut chain = Self {
            config: Arc::new(config),
            blocks: VecDeque::new(),
            state: State::default(),
            solid_state: State::default(),
            solid_burned: 0,
            forks: 0,
            pool: Vec::new(),
            limbo: HashSet::new(),
            txs: HashMap::new(),
            applied: VecDeque::new(),
            by_address: HashMap::new(),
            dropped: Vec::new(),
            broadcasts: HashMap::new(),
            funded_trx: 0,
            funded_usdt: 0,
            burned: 0,
        };
        for token in &chain.config.tokens {
            chain.state.tokens.insert(token.address, Balances::new());
            chain
                .solid_state
                .tokens
                .insert(token.address, Balances::new());
        }
        chain.push_block(now_ms, Vec::new());
        chain
    }

    pub fn head(&self) -> &Block {
        self.blocks.back().expect("the solid head is never pruned")
    }

    /// The number of the newest block that is `solidify_blocks` deep.
    pub fn solid_number(&self) -> u64 {
        self.head()
            .number
            .saturating_sub(self.config.solidify_blocks)
    }

    /// The newest block that is `solidify_blocks` deep.
    pub fn solid_head(&self) -> &Block {
        self.block(self.solid_number())
            .expect("the solid head is never pruned")
    }

    /// Block `number`, unless it is pruned or not produced yet.
    pub fn block(&self, number: u64) -> Option<&Block> {
        find(&self.blocks, number)
    }

    /// The block with this blockID on the current chain.
    pub fn block_by_id(&self, id: &[u8; 32]) -> Option<&Block> {
        let number = u64::from_be_bytes(id[..8].try_into().expect("8 bytes"));
        self.block(number).filter(|b| &b.id == id)
    }

    fn push_block(&mut self, timestamp_ms: i64, txids: Vec<TxId>) {
        let number = self.blocks.back().map_or(0, |b| b.number + 1);
        let parent = self.blocks.back().map(|b| b.id).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(parent);
        h.update(number.to_be_bytes());
        h.update(timestamp_ms.to_be_bytes());
        h.update(self.forks.to_be_bytes());
        for t in &txids {
            h.update(t.as_bytes());
        }
        let mut id: [u8; 32] = h.finalize().into();
        // The blockID starts with the block number, as on the real chain.
        id[..8].copy_from_slice(&number.to_be_bytes());
        self.blocks.push_back(Block {
            number,
            id,
            parent,
            timestamp_ms,
            txids,
        });
    }

    /// The state as of the solidified head block (funding outside
    /// transactions, `/sim/fund` and test accounts, is in it at once).
    pub fn solid_state(&self) -> &State {
        &self.solid_state
    }

    /// Adds TRX (activating the account) and/or USDT.
    pub fn fund(
        &mut self,
        address: Address,
        trx: u64,
        usdt: u64,
        now_ms: i64,
    ) -> Result<(), String> {
        let overflow = || "amount overflows".to_string();
        let funded_trx = self.funded_trx.checked_add(trx).ok_or_else(overflow)?;
        let funded_usdt = self.funded_usdt.checked_add(usdt).ok_or_else(overflow)?;
        // Funding is outside the blocks, so a fork must not undo it: the
        // solid state gets it too.
        for state in [&mut self.state, &mut self.solid_state] {
            if trx > 0 {
                let acct = state.accounts.entry(address).or_insert_with(|| Account {
                    create_time_ms: now_ms,
                    ..Default::default()
                });
                acct.trx = acct.trx.checked_add(trx).ok_or_else(overflow)?;
            }
            if usdt > 0 {
                let bal = state.usdt.entry(address).or_default();
                *bal = bal.checked_add(usdt).ok_or_else(overflow)?;
            }
        }
        self.funded_trx = funded_trx;
        self.funded_usdt = funded_usdt;
        Ok(())
    }

    /// What `address` would hold of `--token` contract `token` after
    /// `units` more; an error for an unknown token or an overflow.
    pub fn token_balance_after(
        &self,
        token: &Address,
        address: &Address,
        units: u64,
    ) -> Result<u64, String> {
        let balances = self.state.tokens.get(token).ok_or_else(|| {
            format!("no token contract at {token}: declare it with --token SYMBOL:DECIMALS (USDT is funded with \"usdt\")")
        })?;
        balances
            .get(address)
            .copied()
            .unwrap_or(0)
            .checked_add(units)
            .ok_or_else(|| "amount overflows".to_string())
    }

    pub fn set_token_balance(&mut self, token: &Address, address: Address, units: u64) {
        self.state
            .tokens
            .entry(*token)
            .or_default()
            .insert(address, units);
    }

    /// Takes a signed transaction as `/wallet/broadcasthex` does, checking
    /// in java-tron's order (docs/tron.md, "Broadcast validation order"):
    /// expired, signature, TaPoS, size, expiration window, duplicate, then
    /// resources and the contract against the pending state.
    pub fn broadcast(&mut self, bytes: &[u8], never_mine: bool) -> Result<TxId, Reject> {
        let tx = SignedTransaction::decode(bytes).map_err(|e| {
            reject(
                "OTHER_ERROR",
                format!("Error: cannot parse transaction: {e}"),
            )
        })?;
        let txid = tx.txid();
        *self.broadcasts.entry(txid).or_default() += 1;
        let expired = || reject("TRANSACTION_EXPIRATION_ERROR", "Transaction expired");
        let head = self.head().timestamp_ms;
        let exp = tx.raw().expiration_ms;
        let next_slot = head + self.config.block_interval.as_millis() as i64;
        if exp < next_slot {
            return Err(expired());
        }
        let mut pending = self.pending_state();
        let owner = tx.raw().contract.owner();
        permissions::check_signatures(
            &tx,
            pending.permissions.get(&owner),
            pending.accounts.contains_key(&owner),
        )
        .map_err(|m| reject("SIGERROR", format!("Validate signature error: {m}")))?;
        self.check_tapos(&tx)?;
        let size = tx.encode().len();
        if size > MAX_TRANSACTION_BYTES {
            return Err(reject(
                "TOO_BIG_TRANSACTION_ERROR",
                format!(
                    "Too big transaction, TxId {txid}, the size is {size} bytes, maxTxSize {MAX_TRANSACTION_BYTES}"
                ),
            ));
        }
        if exp <= head || exp > head + MAX_EXPIRATION_MS {
            return Err(expired());
        }
        if self.txs.contains_key(&txid) {
            return Err(reject("DUP_TRANSACTION_ERROR", "Dup transaction."));
        }
        execute(&self.config, &mut pending, &tx, size, head).map_err(|mut r| {
            if r.code == "CONTRACT_VALIDATE_ERROR" {
                r.message = format!("Contract validate error : {}", r.message);
            }
            r
        })?;
        if never_mine {
            self.limbo.insert(txid);
        } else {
            self.pool.push(txid);
        }
        self.txs.insert(
            txid,
            Known {
                tx: Arc::new(tx),
                executed: None,
                origin: Origin::Broadcast,
            },
        );
        Ok(txid)
    }

    /// `getsignweight`: how far `tx`'s signatures go towards the threshold
    /// of the permission it names, against the pending state.
    pub fn sign_weight(&self, tx: &SignedTransaction) -> SignWeight {
        let pending = self.pending_state();
        let owner = tx.raw().contract.owner();
        let defaults;
        let perms = match pending.permissions.get(&owner) {
            Some(p) => Some(p),
            None if pending.accounts.contains_key(&owner) => {
                defaults = AccountPermissions::default_for(owner);
                Some(&defaults)
            }
            None => None,
        };
        permissions::sign_weight(tx, perms)
    }

    /// The state the pending pool will leave: new transactions are
    /// validated against it, as the node does with its pending state.
    fn pending_state(&self) -> State {
        let mut pending = self.state.clone();
        let head = self.head().timestamp_ms;
        for id in &self.pool {
            let known = &self.txs[id].tx;
            let _ = execute(
                &self.config,
                &mut pending,
                known,
                known.encode().len(),
                head,
            );
        }
        pending
    }

    /// Builds an unsigned transaction as the node's builder routes do
    /// (referring to the head block, expiring 60 s after it), validated
    /// against the pending state.
    pub fn build(&self, contract: Contract, now_ms: i64) -> Result<RawTransaction, Reject> {
        self.build_with_fee_limit(contract, crate::tron::Sun::ZERO, now_ms)
    }

    /// [`Chain::build`] for a contract call that may burn up to `fee_limit`.
    pub fn build_with_fee_limit(
        &self,
        contract: Contract,
        fee_limit: crate::tron::Sun,
        now_ms: i64,
    ) -> Result<RawTransaction, Reject> {
        let head = self.head();
        let reference = RefBlock {
            number: head.number,
            id: head.id,
            timestamp_ms: head.timestamp_ms,
        };
        let raw = RawTransaction::new(
            contract,
            &reference,
            now_ms,
            std::time::Duration::from_secs(60),
            fee_limit,
        );
        let mut pending = self.pending_state();
        // Sized as it will be once signed: one 65-byte signature.
        let size = raw.encode().len() + SIGNED_OVERHEAD;
        execute_raw(&self.config, &mut pending, &raw, 1, size, head.timestamp_ms)?;
        Ok(raw)
    }

    fn check_tapos(&self, tx: &SignedTransaction) -> Result<(), Reject> {
        let raw = tx.raw();
        let head = self.head().number;
        let low = u16::from_be_bytes(raw.ref_block_bytes);
        // The node keys recent blocks by 2 bytes, so TaPoS reaches 65,536
        // blocks back: the one block among them whose number ends in them.
        let back = u64::from((head as u16).wrapping_sub(low));
        let found = head
            .checked_sub(back)
            .and_then(|n| self.block(n))
            .is_some_and(|b| b.id[8..16] == raw.ref_block_hash);
        if found {
            Ok(())
        } else {
            // The node logs which block it missed but answers only this.
            Err(reject("TAPOS_ERROR", "Tapos check error."))
        }
    }

    /// Produces the next block: the pool's transactions, then `extra` (the
    /// load generator's, already signed), then solidifies and prunes.
    pub fn produce_block(&mut self, now_ms: i64, extra: Vec<(SignedTransaction, Origin)>) {
        let ts = now_ms.max(self.head().timestamp_ms + 1);
        let number = self.head().number + 1;
        let mut candidates = std::mem::take(&mut self.pool);
        for (tx, origin) in extra {
            let txid = tx.txid();
            if self.txs.contains_key(&txid) {
                continue;
            }
            self.txs.insert(
                txid,
                Known {
                    tx: Arc::new(tx),
                    executed: None,
                    origin,
                },
            );
            candidates.push(txid);
        }
        let included = self.apply(number, ts, candidates);
        let expired: Vec<TxId> = self
            .limbo
            .iter()
            .filter(|id| self.txs[*id].tx.raw().expiration_ms < ts)
            .copied()
            .collect();
        for txid in expired {
            self.limbo.remove(&txid);
            self.forget(txid, "never mined (fault) and now expired");
        }
        let solid_before = self.solid_number();
        self.push_block(ts, included);
        for n in solid_before + 1..=self.solid_number() {
            let block = find(&self.blocks, n).expect("unsolidified blocks are kept");
            self.solid_burned += replay(&self.config, &self.txs, &mut self.solid_state, block);
        }
        if let Some(keep) = self.config.keep_blocks {
            let below = (self.head().number + 1).saturating_sub(keep.max(1));
            let _ = self.prune_below(below.min(self.solid_number()));
        }
    }

    /// Executes `candidates` in order as block `number` at `ts` and records
    /// their receipts; those that fail or have expired are forgotten.
    /// Returns the included ones.
    fn apply(&mut self, number: u64, ts: i64, candidates: Vec<TxId>) -> Vec<TxId> {
        let mut included = Vec::with_capacity(candidates.len());
        for txid in candidates {
            let tx = self.txs[&txid].tx.clone();
            if tx.raw().expiration_ms < ts {
                self.forget(txid, "expired before it was mined");
                continue;
            }
            match execute(&self.config, &mut self.state, &tx, tx.encode().len(), ts) {
                Ok(mut ex) => {
                    ex.block = number;
                    ex.block_timestamp_ms = ts;
                    self.burned += ex.fee;
                    for a in parties(&ex) {
                        self.by_address.entry(a).or_default().push_back(txid);
                    }
                    self.txs.get_mut(&txid).expect("known").executed = Some(ex);
                    self.applied.push_back(txid);
                    included.push(txid);
                }
                Err(r) => self.forget(txid, &format!("{}: {}", r.code, r.message)),
            }
        }
        included
    }

    /// Drops the blocks below `below` and their transactions, as a node
    /// with pruned history does; the solidified head and what is above it
    /// are always kept.
    pub fn prune_below(&mut self, below: u64) -> Result<Pruned, String> {
        let solid = self.solid_number();
        if below > solid {
            return Err(format!(
                "cannot prune at or above the solidified head {solid}: give below <= {solid}"
            ));
        }
        let (mut blocks, mut transactions) = (0, 0);
        while self.blocks.front().is_some_and(|b| b.number < below) {
            let b = self.blocks.pop_front().expect("checked");
            for id in &b.txids {
                if let Some(ex) = self.txs.remove(id).and_then(|k| k.executed) {
                    self.unindex(id, &ex, VecDeque::pop_front);
                }
            }
            transactions += b.txids.len();
            blocks += 1;
        }
        // `applied` is in block order, so the pruned ones are its start.
        self.applied.drain(..transactions);
        Ok(Pruned {
            blocks,
            transactions,
            first_block: self.blocks.front().expect("solid head kept").number,
        })
    }

    /// Replaces the newest `depth` blocks with blocks of the same numbers
    /// and times but other hashes, as a reorganisation does before
    /// solidification. Each orphaned block's transactions move one block
    /// later (the old head's go back to the pool for the next block), except
    /// a `vanish` share of them, picked at random, which are dropped for
    /// good; the state is rebuilt from the solidified head, so what a
    /// vanished transaction did is undone.
    pub fn fork(&mut self, depth: u64, vanish: f64) -> Result<Fork, String> {
        let (head, solid) = (self.head().number, self.solid_number());
        let open = head - solid;
        if depth == 0 || depth > open {
            return Err(format!(
                "fork depth must be between 1 and {open}: blocks at or below the solidified head {solid} never change"
            ));
        }
        if !(0.0..=1.0).contains(&vanish) {
            return Err(format!("vanish must be between 0 and 1, got {vanish}"));
        }
        self.forks += 1;
        let from_block = head - depth + 1;
        let mut orphaned: Vec<Block> = (0..depth)
            .map(|_| self.blocks.pop_back().expect("above the solid head"))
            .collect();
        orphaned.reverse();
        // The orphaned transactions are the newest mined: off the end of
        // the histories, to be mined again below.
        for txid in orphaned.iter().flat_map(|b| &b.txids).rev() {
            let ex = self.txs[txid].executed.clone().expect("mined");
            self.unindex(txid, &ex, VecDeque::pop_back);
            self.applied.pop_back();
        }
        // Back to the solidified state, then the kept blocks again.
        self.state = self.solid_state.clone();
        self.burned = self.solid_burned;
        for n in solid + 1..from_block {
            let block = find(&self.blocks, n).expect("kept");
            self.burned += replay(&self.config, &self.txs, &mut self.state, block);
        }
        let mut vanished = Vec::new();
        let mut carried: Vec<TxId> = Vec::new();
        let mut moved = 0;
        for old in &orphaned {
            let included = self.apply(old.number, old.timestamp_ms, std::mem::take(&mut carried));
            moved += included.len();
            self.push_block(old.timestamp_ms, included);
            for txid in &old.txids {
                if super::roll() < vanish {
                    vanished.push(*txid);
                } else {
                    carried.push(*txid);
                }
            }
        }
        for txid in &vanished {
            self.forget(*txid, &format!("dropped by a fork at block {from_block}"));
        }
        for txid in &carried {
            self.txs.get_mut(txid).expect("known").executed = None;
        }
        let to_pool = carried.len();
        carried.append(&mut self.pool);
        self.pool = carried;
        Ok(Fork {
            from_block,
            depth,
            orphaned: orphaned.iter().map(|b| hex::encode(b.id)).collect(),
            moved,
            to_pool,
            vanished,
        })
    }

    /// Rebuilds the histories by address from `applied` (a chain read
    /// back from a state file).
    pub(super) fn reindex(&mut self) {
        self.by_address.clear();
        for txid in &self.applied {
            if let Some(ex) = &self.txs[txid].executed {
                for a in parties(ex) {
                    self.by_address.entry(a).or_default().push_back(*txid);
                }
            }
        }
    }

    /// The mined transactions from or to `address`, oldest first.
    pub fn history(&self, address: &Address) -> impl DoubleEndedIterator<Item = &TxId> {
        self.by_address.get(address).into_iter().flatten()
    }

    /// Takes `txid` off its parties' histories, from the end `take` pops.
    fn unindex(
        &mut self,
        txid: &TxId,
        ex: &Executed,
        take: fn(&mut VecDeque<TxId>) -> Option<TxId>,
    ) {
        for a in parties(ex) {
            if let Some(list) = self.by_address.get_mut(&a) {
                let taken = take(list);
                debug_assert_eq!(taken.as_ref(), Some(txid), "histories are in block order");
                if list.is_empty() {
                    self.by_address.remove(&a);
                }
            }
        }
    }

    /// A transaction the node no longer knows: it can never land.
    fn forget(&mut self, txid: TxId, reason: &str) {
        self.txs.remove(&txid);
        self.dropped.push(Dropped {
            txid,
            reason: reason.to_string(),
        });
    }

    /// The mined transaction, if mined (and solidified when `solid`).
    pub fn mined(&self, txid: &TxId, solid: bool) -> Option<(&SignedTransaction, &Executed)> {
        let known = self.txs.get(txid)?;
        let ex = known.executed.as_ref()?;
        if solid && ex.block > self.solid_number() {
            return None;
        }
        Some((known.tx.as_ref(), ex))
    }

    /// Free bandwidth `address` has used, as of the head block.
    pub fn free_net_used(&self, address: &Address) -> u64 {
        let (now, window) = (self.head().timestamp_ms, self.config.resource_window_ms());
        self.state
            .accounts
            .get(address)
            .map_or(0, |a| a.free_net.at(now, window))
    }

    /// The owner's permissions as `getaccount` shows them.
    pub fn permissions_of(&self, address: &Address) -> AccountPermissions {
        self.state
            .permissions
            .get(address)
            .cloned()
            .unwrap_or_else(|| AccountPermissions::default_for(*address))
    }
}

/// The addresses a mined transaction is from or to.
fn parties(ex: &Executed) -> impl Iterator<Item = Address> {
    let to = (ex.to != ex.from).then_some(ex.to);
    std::iter::once(ex.from).chain(to)
}

fn find(blocks: &VecDeque<Block>, number: u64) -> Option<&Block> {
    let first = blocks.front()?.number;
    blocks.get(usize::try_from(number.checked_sub(first)?).ok()?)
}

/// Executes a block's transactions again onto `state` (whose results are
/// already recorded); returns the fees burned.
fn replay(config: &SimConfig, txs: &HashMap<TxId, Known>, state: &mut State, block: &Block) -> u64 {
    let mut burned = 0;
    for id in &block.txids {
        let tx = &txs[id].tx;
        if let Ok(ex) = execute(config, state, tx, tx.encode().len(), block.timestamp_ms) {
            burned += ex.fee;
        }
    }
    burned
}

/// Validates and applies one signed transaction to `state`, as a block
/// would; the receipt's block fields are left for the caller.
fn execute(
    config: &SimConfig,
    state: &mut State,
    tx: &SignedTransaction,
    size: usize,
    now_ms: i64,
) -> Result<Executed, Reject> {
    execute_raw(config, state, tx.raw(), tx.signatures().len(), size, now_ms)
}

/// [`execute`] for a transaction carrying `signatures` signatures.
fn execute_raw(
    config: &SimConfig,
    state: &mut State,
    raw: &RawTransaction,
    signatures: usize,
    size: usize,
    now_ms: i64,
) -> Result<Executed, Reject> {
    let owner = raw.contract.owner();
    let validate = |m: String| reject("CONTRACT_VALIDATE_ERROR", m);
    let Some(owner_acct) = state.accounts.get(&owner) else {
        return Err(validate(format!(
            "Validate {} error, no OwnerAccount.",
            raw.contract.type_name()
        )));
    };
    let balance = owner_acct.trx;

    // Bandwidth: staked (own or delegated) if it covers the whole
    // transaction, else free bandwidth likewise, else burned TRX. Creating
    // an account uses staked bandwidth or burns its fee, never free.
    let bytes = size as u64 + RESULT_BYTES;
    let creates =
        matches!(&raw.contract, Contract::Transfer { to, .. } if !state.accounts.contains_key(to));
    let free_used = owner_acct.free_net.at(now_ms, config.resource_window_ms());
    let staked_net = state.available(config, &owner, Resource::Bandwidth, now_ms) >= bytes;
    let (net_usage, net_fee, free_net) = if staked_net {
        (bytes, 0, 0)
    } else if creates {
        (0, config.create_account_fee, 0)
    } else if free_used + bytes <= config.free_net_limit {
        (bytes, 0, bytes)
    } else {
        (0, bytes * config.transaction_fee, 0)
    };
    // More than one signature burns the multi-signature fee on top.
    let multi_sign_fee = if signatures > 1 {
        config.multi_sign_fee
    } else {
        0
    };
    if balance < net_fee + multi_sign_fee {
        return Err(reject(
            "BANDWITH_ERROR",
            "Account resource insufficient error.",
        ));
    }
    // What the checks below may still spend.
    let balance = balance - multi_sign_fee;
    let staked_net_used = if staked_net { bytes } else { 0 };

    let mut ex = Executed {
        block: 0,
        block_timestamp_ms: 0,
        outcome: Outcome::Success,
        fee: net_fee + multi_sign_fee,
        net_usage,
        net_fee,
        energy_usage_total: 0,
        energy_usage: 0,
        energy_fee: 0,
        created_account: creates,
        contract: None,
        output: Vec::new(),
        logs: Vec::new(),
        asset: "TRX",
        from: owner,
        to: owner,
        amount: 0,
    };
    match &raw.contract {
        Contract::Transfer { to, amount, .. } => {
            if amount.0 == 0 {
                return Err(validate("Amount must be greater than 0.".into()));
            }
            if *to == owner {
                return Err(validate("Cannot transfer TRX to yourself.".into()));
            }
            let system_fee = if creates {
                config.create_new_account_fee_in_system_contract
            } else {
                0
            };
            let need = amount
                .0
                .checked_add(system_fee)
                .and_then(|n| n.checked_add(net_fee));
            if need.is_none_or(|n| balance < n) {
                return Err(validate(
                    "Validate TransferContract error, balance is not sufficient.".into(),
                ));
            }
            ex.fee += system_fee;
            ex.to = *to;
            ex.amount = amount.0;
            debit(config, state, &owner, ex.fee + amount.0, free_net, now_ms);
            let dest = state.accounts.entry(*to).or_insert_with(|| Account {
                create_time_ms: now_ms,
                ..Default::default()
            });
            dest.trx += amount.0;
        }
        Contract::TriggerSmartContract {
            contract,
            call_value,
            data,
            ..
        } => {
            let Some(call) = trc20::call(config, state, contract, &owner, data) else {
                return Err(validate("No contract or not a valid smart contract".into()));
            };
            if call_value.0 != 0 {
                return Err(validate(
                    "the simulator's token contracts are not payable".into(),
                ));
            }
            if raw.fee_limit.0 > MAX_FEE_LIMIT {
                return Err(validate(format!(
                    "feeLimit must be >= 0 and <= {MAX_FEE_LIMIT}"
                )));
            }
            let is_usdt = *contract == config.usdt_contract;
            ex.asset = "TRC20";
            ex.contract = Some(*contract);
            // A USDT transfer keeps its parties for the ledger and the v1
            // lists, whether or not it succeeds.
            let parties = call
                .moved
                .or_else(|| parse_trc20_transfer(data).map(|(to, a)| (owner, to, a.0)));
            if let (true, Some((from, to, amount))) = (is_usdt, parties) {
                ex.asset = "USDT";
                (ex.from, ex.to, ex.amount) = (from, to, amount);
            }
            let outcome = if call.reverted {
                Outcome::Revert
            } else {
                Outcome::Success
            };
            // Staked energy (own and delegated) first, then TRX burned for
            // the rest; `fee_limit` caps the whole, as in java-tron.
            let price = config.energy_fee.max(1);
            let staked = state.available(config, &owner, Resource::Energy, now_ms);
            let max_energy = (staked + (balance - net_fee) / price).min(raw.fee_limit.0 / price);
            let used = if call.energy > max_energy {
                ex.outcome = Outcome::OutOfEnergy;
                max_energy
            } else {
                ex.outcome = outcome;
                call.energy
            };
            ex.energy_usage_total = used;
            ex.energy_usage = used.min(staked);
            ex.energy_fee = (used - ex.energy_usage) * price;
            ex.fee += ex.energy_fee;
            debit(config, state, &owner, ex.fee, free_net, now_ms);
            state.consume(config, &owner, Resource::Energy, ex.energy_usage, now_ms);
            match ex.outcome {
                Outcome::Success => {
                    ex.output = call.output;
                    ex.logs = call.logs;
                    trc20::apply(config, state, contract, call.effects);
                }
                Outcome::Revert => ex.output = call.output,
                Outcome::OutOfEnergy => {}
            }
        }
        Contract::AccountPermissionUpdate {
            owner_permission,
            witness,
            actives,
            ..
        } => {
            permissions::validate_update(owner_permission, witness.as_ref(), actives)
                .map_err(validate)?;
            // The actuator charges the fee only when it executes, so an
            // account that cannot pay fails there, not in validation.
            let fee = config.update_account_permission_fee;
            if balance - net_fee < fee {
                return Err(reject(
                    "CONTRACT_EXE_ERROR",
                    format!(
                        "Contract execute error : {} insufficient balance, balance: {}, amount: {fee}",
                        hex::encode(owner.as_bytes()),
                        balance - net_fee
                    ),
                ));
            }
            ex.asset = "PERMISSION";
            ex.fee += fee;
            debit(config, state, &owner, ex.fee, free_net, now_ms);
            state.permissions.insert(
                owner,
                AccountPermissions::from_update(owner_permission, witness.as_ref(), actives),
            );
        }
        Contract::TransferAsset { .. } => {
            return Err(validate(
                "TRC-10 transfers are not supported by the simulator".into(),
            ));
        }
        Contract::FreezeBalanceV2 {
            frozen_balance,
            resource,
            ..
        } => {
            let amount = frozen_balance.0;
            if amount == 0 {
                return Err(validate("frozenBalance must be positive".into()));
            }
            if amount < TRX {
                return Err(validate(
                    "frozenBalance must be greater than or equal to 1 TRX".into(),
                ));
            }
            if amount.checked_add(net_fee).is_none_or(|n| n > balance) {
                return Err(validate(
                    "frozenBalance must be less than or equal to accountBalance".into(),
                ));
            }
            stake_receipt(&mut ex, owner, amount);
            debit(config, state, &owner, ex.fee + amount, free_net, now_ms);
            state.accounts.get_mut(&owner).expect("validated").frozen[res(*resource)] += amount;
            state.staked[res(*resource)] += amount;
        }
        Contract::UnfreezeBalanceV2 {
            unfreeze_balance,
            resource,
            ..
        } => {
            let amount = unfreeze_balance.0;
            let frozen = owner_acct.frozen[res(*resource)];
            if frozen == 0 {
                let name = match resource {
                    Resource::Energy => "Energy",
                    Resource::Bandwidth => "Bandwidth",
                };
                return Err(validate(format!("no frozenBalance({name})")));
            }
            if amount == 0 || amount > frozen {
                return Err(validate(format!(
                    "Invalid unfreeze_balance, [{amount}] is invalid"
                )));
            }
            stake_receipt(&mut ex, owner, amount);
            debit(config, state, &owner, ex.fee, free_net, now_ms);
            let delay = config.resource_window_ms() * config.unfreeze_delay_days as i64;
            let acct = state.accounts.get_mut(&owner).expect("validated");
            // Like java-tron, an unstake first pays out what has waited long enough.
            acct.trx += withdraw_expired(acct, now_ms);
            acct.frozen[res(*resource)] -= amount;
            acct.unfreezing.push((*resource, amount, now_ms + delay));
            state.staked[res(*resource)] -= amount;
        }
        Contract::WithdrawExpireUnfreeze { .. } => {
            let ready: u64 = owner_acct
                .unfreezing
                .iter()
                .filter(|u| u.2 <= now_ms)
                .map(|u| u.1)
                .sum();
            if ready == 0 {
                return Err(validate("no unFreeze balance to withdraw ".into()));
            }
            stake_receipt(&mut ex, owner, ready);
            debit(config, state, &owner, ex.fee, free_net, now_ms);
            let acct = state.accounts.get_mut(&owner).expect("validated");
            acct.trx += withdraw_expired(acct, now_ms);
        }
        Contract::DelegateResource {
            resource,
            balance: amount,
            receiver,
            lock,
            lock_period,
            ..
        } => {
            let (amount, r) = (amount.0, res(*resource));
            if amount < TRX {
                return Err(validate(
                    "delegateBalance must be greater than or equal to 1 TRX".into(),
                ));
            }
            if amount > state.can_delegate(config, &owner, *resource, now_ms) {
                let name = match resource {
                    Resource::Energy => "FreezeEnergyV2",
                    Resource::Bandwidth => "FreezeBandwidthV2",
                };
                return Err(validate(format!(
                    "delegateBalance must be less than or equal to available {name} balance"
                )));
            }
            if *receiver == owner {
                return Err(validate(
                    "receiverAddress must not be the same as ownerAddress".into(),
                ));
            }
            if *receiver == config.usdt_contract {
                return Err(validate(
                    "Do not allow delegate resources to contract addresses".into(),
                ));
            }
            if !state.accounts.contains_key(receiver) {
                return Err(validate(format!(
                    "Account[{}] not exists",
                    receiver.to_hex()
                )));
            }
            stake_receipt(&mut ex, *receiver, amount);
            debit(config, state, &owner, ex.fee, free_net, now_ms);
            let o = state.accounts.get_mut(&owner).expect("validated");
            o.frozen[r] -= amount;
            o.delegated_out[r] += amount;
            state.accounts.get_mut(receiver).expect("checked").acquired[r] += amount;
            let d = state.delegations.entry((owner, *receiver)).or_default();
            if *lock {
                let blocks = if *lock_period == 0 {
                    DEFAULT_LOCK_PERIOD_BLOCKS
                } else {
                    *lock_period
                };
                let block_ms = config.block_interval.as_millis().max(1) as i64;
                d.locked[r] += amount;
                d.lock_expire_ms[r] = now_ms + blocks as i64 * block_ms;
            } else {
                d.balance[r] += amount;
            }
        }
        Contract::UnDelegateResource {
            resource,
            balance: amount,
            receiver,
            ..
        } => {
            let (amount, r) = (amount.0, res(*resource));
            if *receiver == owner {
                return Err(validate(
                    "receiverAddress must not be the same as ownerAddress".into(),
                ));
            }
            let Some(d) = state.delegations.get(&(owner, *receiver)) else {
                return Err(validate("delegated Resource does not exist".into()));
            };
            if amount == 0 {
                return Err(validate("unDelegateBalance must be more than 0 TRX".into()));
            }
            let unlocked_lock = if d.lock_expire_ms[r] < now_ms {
                d.locked[r]
            } else {
                0
            };
            let available = d.balance[r] + unlocked_lock;
            if available < amount {
                let what = match resource {
                    Resource::Energy => "delegateFrozenBalance(Energy)",
                    Resource::Bandwidth => "delegatedFrozenBalance(BANDWIDTH)",
                };
                return Err(validate(format!(
                    "insufficient {what}, request={amount}, unlock_balance={available}"
                )));
            }
            stake_receipt(&mut ex, *receiver, amount);
            debit(config, state, &owner, ex.fee, free_net, now_ms);
            let d = state
                .delegations
                .get_mut(&(owner, *receiver))
                .expect("checked");
            let from_unlocked = amount.min(d.balance[r]);
            d.balance[r] -= from_unlocked;
            d.locked[r] -= amount - from_unlocked;
            if d.balance == [0, 0] && d.locked == [0, 0] {
                state.delegations.remove(&(owner, *receiver));
            }
            // The receiver's usage of the returned stake goes back to the
            // owner, where it recovers (java-tron's usage transfer).
            let window = config.resource_window_ms();
            let mut moved = 0;
            if let Some(rc) = state.accounts.get_mut(receiver) {
                let weight = rc.frozen[r] + rc.acquired[r];
                let used = rc.usage[r].at(now_ms, window);
                if weight > 0 {
                    moved = (used as u128 * amount as u128 / weight as u128) as u64;
                }
                rc.usage[r] = Usage {
                    used: used - moved,
                    at_ms: now_ms,
                };
                rc.acquired[r] -= amount;
            }
            let o = state.accounts.get_mut(&owner).expect("validated");
            o.usage[r] = Usage {
                used: o.usage[r].at(now_ms, window) + moved,
                at_ms: now_ms,
            };
            o.delegated_out[r] -= amount;
            o.frozen[r] += amount;
        }
    }
    state.consume(config, &owner, Resource::Bandwidth, staked_net_used, now_ms);
    Ok(ex)
}

/// Removes the unstaked entries whose wait is over; returns their SUN.
fn withdraw_expired(acct: &mut Account, now_ms: i64) -> u64 {
    let (ready, waiting): (Vec<_>, Vec<_>) = acct.unfreezing.drain(..).partition(|u| u.2 <= now_ms);
    acct.unfreezing = waiting;
    ready.iter().map(|u| u.1).sum()
}

/// A Stake 2.0 contract's receipt: nothing but bandwidth is paid.
fn stake_receipt(ex: &mut Executed, to: Address, amount: u64) {
    ex.asset = "STAKE";
    ex.to = to;
    ex.amount = amount;
}

/// Takes `sun` from the owner and counts `free_net` free bandwidth used.
fn debit(
    config: &SimConfig,
    state: &mut State,
    owner: &Address,
    sun: u64,
    free_net: u64,
    now_ms: i64,
) {
    state.accounts.get_mut(owner).expect("validated").trx -= sun;
    if free_net > 0 {
        let acct = state.accounts.get_mut(owner).expect("validated");
        let window = config.resource_window_ms();
        acct.free_net = Usage {
            used: acct.free_net.at(now_ms, window) + free_net,
            at_ms: now_ms,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_recovers_linearly_and_is_gone_after_the_window() {
        let u = Usage {
            used: 65_000,
            at_ms: 1_000,
        };
        assert_eq!(u.at(1_000, 4_000), 65_000);
        assert_eq!(u.at(2_000, 4_000), 48_750);
        assert_eq!(u.at(3_000, 4_000), 32_500);
        assert_eq!(u.at(5_000, 4_000), 0);
        assert_eq!(u.at(500, 4_000), 65_000, "a clock behind is no recovery");
    }

    #[test]
    fn the_energy_limit_is_the_stakes_share_of_the_network() {
        let config = SimConfig {
            total_energy_limit: 180_000_000_000,
            network_energy_weight: 19_000_000_000,
            ..SimConfig::default()
        };
        let owner: Address = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8".parse().unwrap();
        let mut state = State::default();
        let acct = state.accounts.entry(owner).or_default();
        acct.frozen[res(Resource::Energy)] = 10_000 * TRX;
        // Half a TRX of acquired stake does not count: weight is whole TRX.
        acct.acquired[res(Resource::Energy)] = TRX / 2;
        state.staked[res(Resource::Energy)] = 10_000 * TRX;
        assert_eq!(
            state.total_weight(&config, Resource::Energy),
            19_000_010_000
        );
        // 10,000 TRX of 19e9 staked, of 180e9 energy a day: about 94,736.
        assert_eq!(state.limit(&config, &owner, Resource::Energy), 94_736);
        assert_eq!(
            state.can_delegate(&config, &owner, Resource::Energy, 0),
            10_000 * TRX
        );
    }

    #[test]
    fn sign_weight_counts_the_signers_of_the_named_permission() {
        use crate::tron::PrivateKey;
        use crate::tron::tx::{Permission, PermissionKey, PermissionType};
        use permissions::SignWeightCode;

        let k = |n: u8| PrivateKey::from_bytes(&[n; 32]).unwrap();
        let (treasury, a, b, outsider) = (k(1), k(2), k(3), k(4));
        let mut chain = Chain::new(SimConfig::default(), 1_000);
        chain.fund(treasury.address(), 50 * TRX, 0, 1_000).unwrap();
        let mut perms = AccountPermissions::default_for(treasury.address());
        perms.actives[0].threshold = 2;
        perms.actives[0].keys = [&a, &b]
            .iter()
            .map(|key| PermissionKey {
                address: key.address(),
                weight: 1,
            })
            .collect();
        chain.state.permissions.insert(treasury.address(), perms);
        let transfer = Contract::Transfer {
            owner: treasury.address(),
            to: outsider.address(),
            amount: crate::tron::Sun(TRX),
        };
        let raw = chain
            .build(transfer.clone(), 1_000)
            .unwrap()
            .with_permission_id(2);

        let one = raw.sign(&a);
        let w = chain.sign_weight(&one);
        assert_eq!(w.code, SignWeightCode::NotEnoughPermission);
        assert_eq!((w.current_weight, w.threshold), (1, 2));
        assert_eq!(w.approved_list, vec![a.address()]);
        assert_eq!(w.permission.as_ref().unwrap().kind, PermissionType::Active);

        let two = one.clone().cosign(&b);
        let w = chain.sign_weight(&two);
        assert_eq!(w.code, SignWeightCode::EnoughPermission);
        assert_eq!(w.current_weight, 2);
        assert_eq!(w.message, "");

        let w = chain.sign_weight(&one.cosign(&outsider));
        assert_eq!(w.code, SignWeightCode::PermissionError);
        assert!(
            w.message
                .ends_with("but it is not contained of permission."),
            "{}",
            w.message
        );

        let w = chain.sign_weight(&raw.clone().with_permission_id(3).sign(&a));
        assert_eq!(w.message, "Permission for this, does not exist!");
        assert_eq!(w.permission, None::<Permission>);

        let ghost = Contract::Transfer {
            owner: outsider.address(),
            to: a.address(),
            amount: crate::tron::Sun(1),
        };
        let ghost = RawTransaction {
            contract: ghost,
            ..raw
        };
        let w = chain.sign_weight(&ghost.sign(&outsider));
        assert_eq!(w.message, "Account does not exist!");
    }
}
