//! The load generator (`POST /sim/deposits`): every block gets a given
//! number of TRX and USDT transfers to target addresses, picked at random,
//! and transfers between strangers that a chain follower must ignore.
//!
//! The transactions are real: built with TaPoS on the head block, signed by
//! keys the simulator derives from fixed labels, executed like any other
//! (fees, activation, energy), so balances, receipts and logs agree.
//!
//! Targets are a list, a file of addresses (one per line), or `seed` and
//! `count`: address `i` of seed `s` is [`seeded_address`]`(s, i)`, so a
//! benchmark can insert a million wallets and have them deposited to
//! without sending the list anywhere.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::{Chain, Origin};
use crate::tron::address::Address;
use crate::tron::tx::{Contract, RawTransaction, RefBlock, SignedTransaction};
use crate::tron::{PrivateKey, Sun, TokenUnits};

/// Senders of deposits, like an exchange's hot wallets.
const DEPOSIT_SENDERS: u64 = 8;
/// Senders of stranger traffic.
const STRANGER_SENDERS: u64 = 32;
/// Strangers receive at one of this many addresses, so stranger traffic
/// does not grow the number of accounts without bound.
const STRANGER_RECIPIENTS: u64 = 10_000;
/// What every sender holds (topped up when it falls below half): a billion
/// TRX and a billion USDT.
const SENDER_FUNDS: u64 = 1_000_000_000_000_000;
/// Most transactions per block the generator makes.
const MAX_PER_BLOCK: u32 = 100_000;
/// Enough for a USDT transfer to a new holder at mainnet prices.
const FEE_LIMIT: Sun = Sun(100_000_000);

/// Address `index` of the target set `seed`: `0x41` and the first 20 bytes
/// of SHA-256("walletops-sim-target" || seed || index), both big-endian
/// u64. No key exists for it; it only receives.
pub fn seeded_address(seed: u64, index: u64) -> Address {
    derived(b"walletops-sim-target", seed, index)
}

fn derived(label: &[u8], seed: u64, index: u64) -> Address {
    let h = Sha256::new()
        .chain_update(label)
        .chain_update(seed.to_be_bytes())
        .chain_update(index.to_be_bytes())
        .finalize();
    Address::from_evm(h[..20].try_into().expect("20 bytes"))
}

fn sender_key(label: &str, index: u64) -> PrivateKey {
    let h: [u8; 32] = Sha256::new()
        .chain_update(b"walletops-sim-sender:")
        .chain_update(label.as_bytes())
        .chain_update(index.to_be_bytes())
        .finalize()
        .into();
    PrivateKey::from_bytes(&h).expect("a SHA-256 output is a valid key but with odds of 2^-128")
}

/// The body of `POST /sim/deposits`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// TRX transfers to targets per block.
    #[serde(default)]
    pub trx: u32,
    /// USDT transfers to targets per block.
    #[serde(default)]
    pub usdt: u32,
    /// Transfers between strangers per block (TRX and USDT alternately).
    #[serde(default)]
    pub strangers: u32,
    pub targets: Option<Targets>,
    /// SUN per TRX deposit.
    #[serde(default = "one_unit")]
    pub trx_sun: u64,
    /// USDT units per USDT deposit.
    #[serde(default = "one_unit")]
    pub usdt_units: u64,
    /// Stop after this many blocks; none runs until stopped.
    pub blocks: Option<u64>,
}

/// One TRX or one USDT (6 decimals).
fn one_unit() -> u64 {
    1_000_000
}

/// Who receives deposits.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Targets {
    Addresses(Vec<Address>),
    /// `seeded_address(seed, i)` for `i` in `0..count`.
    Seeded {
        seed: u64,
        count: u64,
    },
    /// A file on the simulator's host, one address per line.
    File(PathBuf),
}

enum TargetSet {
    List(Vec<Address>),
    Seeded { seed: u64, count: u64 },
}

impl TargetSet {
    fn len(&self) -> u64 {
        match self {
            TargetSet::List(l) => l.len() as u64,
            TargetSet::Seeded { count, .. } => *count,
        }
    }

    fn get(&self, i: u64) -> Address {
        match self {
            TargetSet::List(l) => l[i as usize],
            TargetSet::Seeded { seed, .. } => seeded_address(*seed, i),
        }
    }
}

/// What `GET /sim/deposits` says about the running generator.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub trx: u32,
    pub usdt: u32,
    pub strangers: u32,
    pub targets: u64,
    pub trx_sun: u64,
    pub usdt_units: u64,
    pub blocks_left: Option<u64>,
    pub senders: Vec<Address>,
}

pub struct LoadGen {
    plan: Plan,
    targets: TargetSet,
    depositors: Vec<PrivateKey>,
    strangers: Vec<PrivateKey>,
    usdt: Address,
    blocks_left: Option<u64>,
    /// Counts stranger transfers, to alternate TRX and USDT.
    stranger_seq: u64,
}

impl LoadGen {
    /// Checks the plan and loads its targets (reading a file if asked:
    /// call it off the async threads).
    pub fn new(mut plan: Plan, usdt: Address) -> Result<Self, String> {
        let total = u64::from(plan.trx) + u64::from(plan.usdt) + u64::from(plan.strangers);
        if total == 0 {
            return Err("nothing to generate: give trx, usdt and/or strangers per block".into());
        }
        if total > u64::from(MAX_PER_BLOCK) {
            return Err(format!(
                "at most {MAX_PER_BLOCK} transactions per block, asked for {total}"
            ));
        }
        if plan.trx_sun == 0 || plan.usdt_units == 0 {
            return Err("trx_sun and usdt_units must be positive".into());
        }
        if plan.blocks == Some(0) {
            return Err("blocks must be positive (leave it out to run until stopped)".into());
        }
        let targets = match plan.targets.take() {
            None => TargetSet::List(Vec::new()),
            Some(Targets::Addresses(list)) => TargetSet::List(list),
            Some(Targets::Seeded { seed, count }) => TargetSet::Seeded { seed, count },
            Some(Targets::File(path)) => TargetSet::List(read_targets(&path)?),
        };
        if plan.trx + plan.usdt > 0 && targets.len() == 0 {
            return Err("trx and usdt deposits need targets: {\"addresses\": [...]}, {\"seeded\": {\"seed\": S, \"count\": N}} or {\"file\": PATH}".into());
        }
        Ok(Self {
            blocks_left: plan.blocks,
            plan,
            targets,
            depositors: (0..DEPOSIT_SENDERS)
                .map(|i| sender_key("deposit", i))
                .collect(),
            strangers: (0..STRANGER_SENDERS)
                .map(|i| sender_key("stranger", i))
                .collect(),
            usdt,
            stranger_seq: 0,
        })
    }

    /// Gives every sender the funds it needs (outside the blocks, like
    /// `/sim/fund`).
    pub fn fund_senders(&self, chain: &mut Chain, now_ms: i64) -> Result<(), String> {
        for key in self.depositors.iter().chain(&self.strangers) {
            let a = key.address();
            let trx = chain.state.accounts.get(&a).map_or(0, |x| x.trx);
            let usdt = chain.state.usdt.get(&a).copied().unwrap_or(0);
            let top_up = |held: u64| {
                if held < SENDER_FUNDS / 2 {
                    SENDER_FUNDS - held
                } else {
                    0
                }
            };
            chain.fund(a, top_up(trx), top_up(usdt), now_ms)?;
        }
        Ok(())
    }

    pub fn status(&self) -> Status {
        Status {
            trx: self.plan.trx,
            usdt: self.plan.usdt,
            strangers: self.plan.strangers,
            targets: self.targets.len(),
            trx_sun: self.plan.trx_sun,
            usdt_units: self.plan.usdt_units,
            blocks_left: self.blocks_left,
            senders: self
                .depositors
                .iter()
                .chain(&self.strangers)
                .map(PrivateKey::address)
                .collect(),
        }
    }

    pub fn finished(&self) -> bool {
        self.blocks_left == Some(0)
    }

    /// The signed transactions for the block after `reference`.
    pub fn block(&mut self, reference: &RefBlock, now_ms: i64) -> Vec<(SignedTransaction, Origin)> {
        if self.finished() {
            return Vec::new();
        }
        if let Some(n) = &mut self.blocks_left {
            *n -= 1;
        }
        let total = (self.plan.trx + self.plan.usdt + self.plan.strangers) as usize;
        let mut out = Vec::with_capacity(total);
        // Two transfers alike in sender, recipient and amount differ in
        // their timestamps, as two real ones would.
        let mut stamp = now_ms;
        let mut next_stamp = || {
            stamp -= 1;
            stamp
        };
        for i in 0..self.plan.trx + self.plan.usdt {
            let from = &self.depositors[pick(DEPOSIT_SENDERS) as usize];
            let to = self.targets.get(pick(self.targets.len()));
            let contract = if i < self.plan.trx {
                trx(from, to, self.plan.trx_sun)
            } else {
                Contract::trc20_transfer(
                    from.address(),
                    self.usdt,
                    to,
                    TokenUnits(self.plan.usdt_units),
                )
            };
            out.push((
                sign(contract, from, reference, next_stamp()),
                Origin::Deposit,
            ));
        }
        for _ in 0..self.plan.strangers {
            let from = &self.strangers[pick(STRANGER_SENDERS) as usize];
            let to = derived(b"walletops-sim-stranger", 0, pick(STRANGER_RECIPIENTS));
            self.stranger_seq += 1;
            // Small odd amounts, so they never look like the deposits.
            let amount = 1_000 + self.stranger_seq % 1_000;
            let contract = if self.stranger_seq.is_multiple_of(2) {
                trx(from, to, amount)
            } else {
                Contract::trc20_transfer(from.address(), self.usdt, to, TokenUnits(amount))
            };
            out.push((
                sign(contract, from, reference, next_stamp()),
                Origin::Stranger,
            ));
        }
        out
    }
}

fn trx(from: &PrivateKey, to: Address, sun: u64) -> Contract {
    Contract::Transfer {
        owner: from.address(),
        to,
        amount: Sun(sun),
    }
}

fn sign(
    contract: Contract,
    key: &PrivateKey,
    reference: &RefBlock,
    now_ms: i64,
) -> SignedTransaction {
    let fee_limit = match contract {
        Contract::TriggerSmartContract { .. } => FEE_LIMIT,
        _ => Sun::ZERO,
    };
    RawTransaction::new(
        contract,
        reference,
        now_ms,
        Duration::from_secs(60),
        fee_limit,
    )
    .sign(key)
}

/// A uniform pick in `0..n` (`n` > 0).
fn pick(n: u64) -> u64 {
    getrandom::u64().unwrap_or(0) % n.max(1)
}

fn read_targets(path: &std::path::Path) -> Result<Vec<Address>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read targets file {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim()
                .parse()
                .map_err(|e| format!("{}:{}: not an address: {e}", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_addresses_are_stable_and_distinct() {
        let a = seeded_address(7, 0);
        assert_eq!(a, seeded_address(7, 0));
        assert_ne!(a, seeded_address(7, 1));
        assert_ne!(a, seeded_address(8, 0));
        assert!(a.to_base58().starts_with('T'));
    }

    #[test]
    fn a_plan_without_targets_for_its_deposits_is_refused() {
        let usdt: Address = crate::tron::MAINNET_USDT.parse().unwrap();
        let plan = |json: &str| serde_json::from_str::<Plan>(json).unwrap();
        let e = LoadGen::new(plan(r#"{"trx": 2}"#), usdt).err().unwrap();
        assert!(e.contains("need targets"), "{e}");
        assert!(LoadGen::new(plan(r#"{"strangers": 2}"#), usdt).is_ok());
        let e = LoadGen::new(plan(r#"{}"#), usdt).err().unwrap();
        assert!(e.contains("nothing to generate"), "{e}");
    }
}
